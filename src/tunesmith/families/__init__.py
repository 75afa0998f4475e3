"""Task families (:mod:`tunesmith.families.base` says what a family declares). The
registry maps a name to where its family object lives; ``compose --family NAME`` and
``train --family NAME`` name one of them. A family defined outside the package joins
with :func:`register`."""

from __future__ import annotations

from importlib import import_module
from pathlib import Path

from tunesmith.errors import CheckpointError, OptionError, TunesmithError

FAMILIES: dict[str, str] = {"abc": "tunesmith.families.abc:AbcFamily",
                            "events": "tunesmith.families.events:EventsFamily",
                            "pianoroll": "tunesmith.families.pianoroll:PianorollFamily",
                            "remi": "tunesmith.families.remi:RemiFamily",
                            "continue": "tunesmith.families.continuation:ContinueFamily",
                            "continue-events":
                                "tunesmith.families.continue_events:ContinueEventsFamily",
                            "continue-remi":
                                "tunesmith.families.continue_remi:ContinueRemiFamily",
                            "gan": "tunesmith.families.gan:GanFamily"}
DEFAULT_FAMILY = "abc"
_LOADED: dict[str, object] = {}


def register(family) -> None:
    """Add a family object (an instance of :class:`~tunesmith.families.base.Family`)."""
    FAMILIES[family.name] = f"{type(family).__module__}:{type(family).__qualname__}"
    _LOADED[family.name] = family


def get(name: str):
    """The family object called ``name``."""
    if name not in FAMILIES:
        raise OptionError("family", f": unknown family {name!r} (known: "
                          f"{', '.join(FAMILIES)})")
    if name not in _LOADED:
        module, cls = FAMILIES[name].split(":")
        _LOADED[name] = getattr(import_module(module), cls)()
    return _LOADED[name]


def for_representation(rep_name: str):
    """The family whose models read representation ``rep_name`` (a checkpoint's)."""
    for name in FAMILIES:
        family = get(name)
        if family.representation == rep_name:
            return family
    raise CheckpointError(f"no family composes representation {rep_name!r}")


def pretrained_dir(name: str) -> Path:
    """The folder of family ``name``'s shipped model; for a family that ships none
    (``pretrained = ""``), a one-line error saying how to train one."""
    family = get(name)
    if not family.pretrained:
        raise TunesmithError(f"the {name} family ships no trained model yet: train one "
                             f"(tunesmith train --family {name}) and compose with "
                             "--model RUN/best")
    return Path(__file__).resolve().parent.parent / "pretrained" / family.pretrained
