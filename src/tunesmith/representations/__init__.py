"""Torch-free representations: encode(piece) -> ids, decode(ids) -> Piece, to/from_dict.

:data:`REGISTRY` maps a name to its class; a checkpoint stores ``to_dict()`` (which holds
the name) and :func:`from_dict` rebuilds it. Tests loop over the registry.
"""

from __future__ import annotations

from tunesmith.representations.abc_chars import AbcChars
from tunesmith.representations.abc_phrases import AbcPhrases
from tunesmith.representations.event_phrases import EventPhrases
from tunesmith.representations.events import Events
from tunesmith.representations.notes import NoteFeatures
from tunesmith.representations.pianoroll import PianoRoll
from tunesmith.representations.remi import Remi
from tunesmith.representations.remi_phrases import RemiPhrases

REGISTRY: dict[str, type] = {"abc_chars": AbcChars, "abc_phrases": AbcPhrases,
                              "event_phrases": EventPhrases, "events": Events,
                              "notes": NoteFeatures, "pianoroll": PianoRoll, "remi": Remi,
                              "remi_phrases": RemiPhrases}


def from_dict(d: dict):
    try:
        cls = REGISTRY[d["name"]]
    except KeyError:
        raise ValueError(f"unknown representation {d.get('name')!r}") from None
    return cls.from_dict(d)
