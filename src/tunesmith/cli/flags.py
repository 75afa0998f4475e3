"""Command-line flags made from the typed settings (:mod:`tunesmith.options`), config files,
and ``--print-config``.

Why a loop over dataclass fields and not jsonargparse (which litgpt uses): the README's
command lines must keep working as they are (flat flags such as ``--hidden-size`` or
``--temperature note=0.9,time=0.8``), and jsonargparse names nested settings
``--model.hidden_size``; the loop below is the little that flat flags need on top of
argparse, and every default and help line still comes from the one field that declares it.

A command is made of **sections**, each a settings dataclass (or several, merged by field
name: the model section holds the settings of every registered architecture). A flag's
value is kept only when given, so that the layers stack: a preset, then a ``--config``
file, then flags. A config file (YAML or JSON) has the shape ``--print-config`` prints:
flat sections at the top level, nested ones (``model``, ``train``, ``data``) as maps.
"""

from __future__ import annotations

import argparse
import functools
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tunesmith.errors import OptionError, TunesmithError
from tunesmith.options import Setting, check_type, settings


@dataclass(frozen=True)
class Section:
    """Flags made from the settings of ``classes`` (merged by name, first one wins)."""

    name: str  # key of the given values, and of a nested section in a config file
    classes: tuple[type, ...]
    title: str = ""  # argparse group title
    nested: bool = False  # a map of its own in a config file (model, train, data)
    default_note: str = ""  # replaces "(default: X)" in help, e.g. "the preset's"
    skip: tuple[str, ...] = ()  # fields that get no flag here
    owners: tuple[str, ...] = ()  # who declares each class (a family, an architecture)

    def derived(self) -> set[str]:
        """The fields tunesmith sets itself (a model's vocabulary and head sizes): a run's
        config.json holds them, and a config file's are recomputed, not refused."""
        import dataclasses

        return {f.name for cls in self.classes for f in dataclasses.fields(cls)
                if f.metadata.get("derived")}

    def settings(self) -> list[Setting]:
        merged: dict[str, Setting] = {}
        helps: dict[str, dict[str, list[str]]] = {}  # name -> help text -> its owners
        for i, cls in enumerate(self.classes):
            owner = self.owners[i] if i < len(self.owners) else ""
            for s in settings(cls):
                if s.name in self.skip or s.type in (Mapping, dict) or _is_mapping(s):
                    continue
                if s.name in merged and s.choices and merged[s.name].choices:
                    choices = tuple(dict.fromkeys(merged[s.name].choices + s.choices))
                    merged[s.name] = _with(merged[s.name], choices=choices)
                merged.setdefault(s.name, s)
                helps.setdefault(s.name, {}).setdefault(s.help, []).append(owner)
        for name, texts in helps.items():
            if len(texts) > 1 and all(all(owners) for owners in texts.values()):
                # the same flag means something a little different per family: say each
                said = ", ".join  # a text that names its family already keeps its own name
                merged[name] = _with(merged[name], help=" | ".join(
                    text if text.startswith(f"{said(owners)}: ") else f"{said(owners)}: {text}"
                    for text, owners in texts.items()))
        return list(merged.values())


def _is_mapping(s: Setting) -> bool:
    import typing

    return typing.get_origin(s.type) in (Mapping, dict) and s.cast is None


def _with(s: Setting, **changes) -> Setting:
    import dataclasses

    return dataclasses.replace(s, **changes)


def add_sections(parser: argparse.ArgumentParser, sections: Iterable[Section]) -> None:
    """Add one flag per setting of every section (all default to "not given")."""
    for section in sections:
        group = parser.add_argument_group(section.title) if section.title else parser
        for s in section.settings():
            dest = f"{section.name}.{s.name}"
            if s.is_bool:
                group.add_argument(f"--{s.flag}", dest=dest, default=None,
                                   action="store_false" if s.negate else "store_true",
                                   help=s.help)
                continue
            group.add_argument(f"--{s.flag}", dest=dest, default=None,
                               action="append" if s.repeat else "store",
                               metavar=_metavar(s) or s.flag.upper().replace("-", "_"),
                               help=_help(s, section))


def _metavar(s: Setting) -> str | None:
    if s.choices:
        return "{" + ",".join(map(str, s.choices)) + "}"
    return None


def _help(s: Setting, section: Section) -> str:
    if section.default_note:
        return f"{s.help} (default: {section.default_note})"
    if s.default is None or s.default == "" or s.default == ():
        return s.help
    shown = ",".join(map(str, s.default)) if isinstance(s.default, tuple) else s.default
    return f"{s.help} (default: {shown})".replace("%", "%%")


def given(args: argparse.Namespace, sections: Iterable[Section]) -> dict[str, dict]:
    """The flags given, per section, parsed to their settings' types:
    ``{"train": {"lr": 0.01}, ...}``. A value that does not parse is an OptionError."""
    out: dict[str, dict] = {}
    for section in sections:
        values = {}
        for s in section.settings():
            raw = getattr(args, f"{section.name}.{s.name}", None)
            if isinstance(raw, list):  # a repeatable flag's values
                raw = s.repeat.join(raw)
            if raw is not None:
                values[s.name] = raw if s.is_bool else parse(s, raw)
        out[section.name] = values
    return out


def parse(s: Setting, text: str) -> Any:
    """A flag's text as the setting's type."""
    if s.choices and text not in map(str, s.choices):
        raise OptionError(s.name, f"must be one of {', '.join(map(str, s.choices))}, not "
                          f"{text!r}")
    try:
        if s.cast is not None:
            return s.cast(text)
        if s.optional and text.lower() in ("none", "null"):
            return None
        for typ in (int, float):
            if s.type is typ or _admits(s.type, typ):
                return typ(text)
        return text
    except ValueError:
        raise OptionError(s.name, f"expected {_kind(s)}, got {text!r}") from None


def _admits(hint, typ) -> bool:
    import typing

    return typ in typing.get_args(hint)


def _kind(s: Setting) -> str:
    if s.cast is not None:
        return "a number, or head=number,... per head"
    return {int: "a whole number", float: "a number"}.get(s.type, "a value")


# --- config files ------------------------------------------------------------------------

@functools.cache
def _loader():
    """PyYAML's safe loader reading floats as YAML 1.2 does: ``1e-3`` and ``1e-05`` are
    numbers (YAML 1.1, PyYAML's, wants a dot, ``1.0e-3``, and reads them as text)."""
    import re

    import yaml

    class Loader(yaml.SafeLoader):
        pass

    Loader.add_implicit_resolver(
        "tag:yaml.org,2002:float",
        re.compile(r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
                    |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
                    |\.[0-9_]+(?:[eE][-+]?[0-9]+)?
                    |[-+]?\.(?:inf|Inf|INF)
                    |\.(?:nan|NaN|NAN))$""", re.X),
        list("-+0123456789."))
    return Loader


def read_config(path: str | Path, sections: Iterable[Section],
                ignore: tuple[str, ...] = ()) -> dict[str, dict]:
    """A YAML or JSON config file as values per section, checked against the settings:
    an unknown name or a value of the wrong type is a one-line error naming the file.
    Keys in ``ignore`` are records, not settings (a run's ``config.json`` says which
    ``command`` made it), and are skipped."""
    import yaml

    from tunesmith.jsonfile import MAX_BYTES, nesting_depth

    path = Path(path)
    try:
        if path.stat().st_size > MAX_BYTES:
            raise TunesmithError("config file too large", path)
        text = path.read_text(encoding="utf-8")
        if nesting_depth(text) > 8:
            raise TunesmithError("config file nested too deeply", path)
        data = (json.loads(text) if path.suffix.lower() == ".json" else
                yaml.load(text, Loader=_loader())) or {}
    except OSError as e:
        raise TunesmithError(f"cannot read config file ({e.strerror or e})", path) from None
    except (yaml.YAMLError, UnicodeDecodeError, ValueError) as e:
        raise TunesmithError(f"not a YAML or JSON file ({str(e).splitlines()[0]})",
                             path) from None
    except RecursionError:  # YAML nests by indentation too, which the count above misses
        raise TunesmithError("config file nested too deeply", path) from None
    if not isinstance(data, dict):
        raise TunesmithError("a config file holds a map of settings", path)
    sections = list(sections)
    out = {section.name: {} for section in sections}
    flat = {s.name: (section, s) for section in sections if not section.nested
            for s in section.settings()}
    nested = {section.name: section for section in sections if section.nested}
    for key, value in data.items():
        if key in ignore:
            continue
        try:
            if key in nested and isinstance(value, dict):
                known = {s.name: s for s in nested[key].settings()}
                derived = nested[key].derived()
                for name, v in value.items():
                    if name in derived:
                        continue  # recomputed from the data
                    if name not in known:
                        raise OptionError(f"{key}.{name}", "is not a setting here")
                    _check(known[name], v, f"{key}.{name}")
                out[key].update({k: v for k, v in value.items() if k not in derived})
            elif key in flat:
                section, s = flat[key]
                _check(s, value, key)
                out[section.name][key] = value
            elif key in nested:
                raise OptionError(key, f"must be a map of settings ({key}: then one "
                                  f"'name: value' a line), got {type(value).__name__}")
            else:
                raise OptionError(key, "is not a setting of this command")
        except OptionError as e:
            raise TunesmithError(e.said_as(e.option), path) from None
    return out


def _check(s: Setting, value: Any, name: str) -> None:
    if isinstance(value, str) and s.cast is not None:
        return  # the text form (e.g. "note=0.9") is parsed like a flag's
    hint = s.type if not s.optional else s.type | None
    if isinstance(value, list):
        value = tuple(value)
    check_type(name, value, hint)


def cast_config(values: dict[str, dict], sections: Iterable[Section]) -> dict[str, dict]:
    """Config values in text form (``temperature: "note=0.9"``) parsed like flags."""
    for section in sections:
        for s in section.settings():
            v = values.get(section.name, {}).get(s.name)
            if isinstance(v, str) and s.cast is not None:
                values[section.name][s.name] = parse(s, v)
            elif isinstance(v, list):
                values[section.name][s.name] = tuple(v)
    return values


def layered(*layers: Mapping[str, dict]) -> dict[str, dict]:
    """Later layers win, section by section."""
    out: dict[str, dict] = {}
    for layer in layers:
        for section, values in layer.items():
            out.setdefault(section, {}).update(values)
    return out


def dump(data: Mapping) -> str:
    """Settings as YAML, in the order given (what ``--print-config`` prints)."""
    import yaml

    def plain(x):
        if isinstance(x, Mapping):
            return {k: plain(v) for k, v in x.items()}
        if isinstance(x, tuple):
            return [plain(v) for v in x]
        return x

    return yaml.safe_dump(plain(data), sort_keys=False, default_flow_style=False)


def say(e: OptionError, sections: Iterable[Section]) -> str:
    """An OptionError as the command line says it: settings named by their flags
    (``--max-seconds (1.0) must be greater than --min-seconds (5.0)``)."""
    import re

    sections = list(sections)
    flags = {s.name: f"--{s.flag}" for section in sections for s in section.settings()}
    problem = re.sub(r"\b[a-z]+(?:_[a-z0-9]+)+\b",
                     lambda m: flags.get(m.group(0), m.group(0)), e.problem)
    return OptionError(e.option, problem).said_as(flag_of(e.option, sections))


def flag_of(option: str, sections: Iterable[Section]) -> str:
    """``--flag`` for a setting's name (``num_layers`` -> ``--layers``)."""
    for section in sections:
        for s in section.settings():
            if s.name == option:
                return f"--{s.flag}"
    return f"--{option.replace('_', '-')}" if option.isidentifier() else option
