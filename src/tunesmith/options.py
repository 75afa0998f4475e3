"""Settings as typed dataclass fields that carry their own help text.

Every setting a user can give (a training setting, a model size, a data option, a
composing option) is a field of a frozen dataclass, declared once with :func:`opt`:
its type, its default and its help. The CLI makes its flags from these fields, a config
file names them, a run writes them out as JSON, and a web page can list them; nobody
writes a default or a help line a second time.

    @dataclass(frozen=True)
    class TrainConfig:
        steps: int = opt(3000, "optimiser steps in the whole run")

``derived=True`` marks a field that tunesmith sets itself (a model's vocabulary size,
from the representation): it has no flag. ``flag`` renames the flag (``num_layers`` is
``--layers``); ``negate`` makes a boolean that defaults to True a ``--<flag>`` that
turns it off (``constrain`` is ``--unconstrained``); ``choices`` lists the allowed
values; ``cast`` parses a flag's text when the type alone cannot (per-head values);
``repeat`` lets a flag be given several times, its values joined by that separator
(``--corpus jazz=A --corpus folk=B`` is ``"jazz=A,folk=B"``).
"""

from __future__ import annotations

import dataclasses
import functools
import typing
from collections.abc import Callable, Mapping
from typing import Any

from tunesmith.errors import OptionError

_MISSING = dataclasses.MISSING


def opt(default: Any = _MISSING, help: str = "", *, derived: bool = False,
        flag: str | None = None, choices: tuple | None = None, negate: bool = False,
        cast: Callable[[str], Any] | None = None, factory: Callable[[], Any] | None = None,
        repeat: str | None = None):
    """A dataclass field with its help text (see the module docstring)."""
    meta = {"help": help, "derived": derived, "flag": flag, "choices": choices,
            "negate": negate, "cast": cast, "repeat": repeat}
    if factory is not None:
        return dataclasses.field(default_factory=factory, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


@dataclasses.dataclass(frozen=True)
class Setting:
    """One field of a settings dataclass, as a front end sees it."""

    name: str  # the field's name, e.g. "num_layers"
    type: Any  # the field's type with Optional removed, e.g. int
    default: Any  # the declared default (None when the field has a factory)
    help: str
    flag: str  # the command-line name without dashes, e.g. "layers"
    choices: tuple | None
    negate: bool
    cast: Callable[[str], Any] | None
    optional: bool  # None is an allowed value
    repeat: str | None = None  # the flag may be repeated, its values joined by this

    @property
    def is_bool(self) -> bool:
        return self.type is bool


def settings(cls: type) -> list[Setting]:
    """The user-facing fields of the dataclass ``cls`` (not the derived ones), in order."""
    return list(_settings(cls))


@functools.cache
def _settings(cls: type) -> tuple[Setting, ...]:  # a class's fields never change
    hints = typing.get_type_hints(cls)
    out = []
    for f in dataclasses.fields(cls):
        meta = f.metadata
        if meta.get("derived") or f.name.startswith("_"):
            continue
        typ, optional = _unwrap(hints[f.name])
        out.append(Setting(
            name=f.name, type=typ,
            default=None if f.default is _MISSING else f.default,
            help=meta.get("help", ""), flag=meta.get("flag") or f.name.replace("_", "-"),
            choices=meta.get("choices"), negate=bool(meta.get("negate")),
            cast=meta.get("cast"), optional=optional, repeat=meta.get("repeat")))
    return tuple(out)


def _unwrap(hint) -> tuple[Any, bool]:
    """``int | None`` -> (int, True); ``float | Mapping[...]`` -> (that union, False)."""
    args = typing.get_args(hint)
    if type(None) in args:
        rest = [a for a in args if a is not type(None)]
        return (rest[0] if len(rest) == 1 else typing.Union[tuple(rest)]), True  # noqa: UP007
    return hint, False


def build(cls: type, values: Mapping[str, Any], what: str = ""):
    """``cls(**values)`` for a settings dataclass, with every problem an
    :class:`OptionError` naming the setting: an unknown name, a value of the wrong type
    (ints are taken where floats are expected), or what ``__post_init__`` refuses."""
    known = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    for name, value in values.items():
        if name not in known:
            where = f" of {what}" if what else ""
            raise OptionError(name, f"is not a setting{where} (known: "
                              f"{', '.join(s.name for s in settings(cls))})")
        check_type(name, value, hints[name])
    try:
        return cls(**values)
    except (TypeError, ValueError) as e:
        raise OptionError(_named_in(str(e), values), _problem(str(e), values)) from None


def check_type(name: str, value: Any, hint) -> None:
    """Refuse a value that is not of the field's type (a config file may say anything)."""
    if not _matches(value, hint):
        raise OptionError(name, f"expected {_type_name(hint)}, got {value!r}")


def _matches(value, hint) -> bool:
    if hint is Any:
        return True
    origin = typing.get_origin(hint)
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        return any(_matches(value, a) for a in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if origin in (Mapping, dict) or hint in (Mapping, dict):
        args = typing.get_args(hint)
        return isinstance(value, Mapping) and (not args or all(
            _matches(k, args[0]) and _matches(v, args[1]) for k, v in value.items()))
    if origin in (tuple, list):
        return isinstance(value, (tuple, list))
    if isinstance(hint, type):
        return isinstance(value, hint)
    return True


def _type_name(hint) -> str:
    args = typing.get_args(hint)
    if args and typing.get_origin(hint) not in (Mapping, dict, tuple, list):
        return " or ".join(_type_name(a) for a in args)
    if hint is type(None):
        return "nothing"
    return getattr(hint, "__name__", str(hint)).replace("Mapping", "head=value map")


def _named_in(message: str, values: Mapping[str, Any]) -> str:
    """The setting a ``__post_init__`` message starts with (they say "lr must be ...")."""
    first = message.split(" ", 1)[0]
    return first if first.isidentifier() else ""


def _problem(message: str, values: Mapping[str, Any]) -> str:
    name = _named_in(message, values)
    return message[len(name):].lstrip() if name else message


def replace(obj, what: str = "", **changes):
    """``dataclasses.replace`` with :func:`build`'s checks and messages."""
    return build(type(obj), {**{f.name: getattr(obj, f.name)
                                for f in dataclasses.fields(obj) if f.init}, **changes}, what)


def to_dict(obj) -> dict:
    """A settings dataclass as a JSON-safe dict (mappings become plain dicts)."""
    return {k: dict(v) if isinstance(v, Mapping) else v
            for k, v in dataclasses.asdict(obj).items()}
