"""Ingesting a MIDI / score corpus to see what training would use: every file kept or
dropped, with the reason."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tunesmith.errors import TunesmithError
from tunesmith.progress import Progress


def prepare(corpus: str | None = None, family: str = "events",
            filters: Mapping[str, Any] | None = None, progress: Progress | None = None):
    """The ingest report (:class:`tunesmith.corpora.PieceCorpus`) of ``corpus`` (default:
    the family's) with the track and length filters ``filters`` (fields of
    :class:`tunesmith.corpora.IngestFilter`)."""
    from tunesmith import families
    from tunesmith.corpora import IngestFilter
    from tunesmith.options import build

    fam = families.get(family)
    if not fam.reads_pieces:
        raise TunesmithError(f"prepare reads MIDI / score corpora (--family events, remi, "
                             f"pianoroll, gan, continue-events or continue-remi); the {fam.name} "
                             "family "
                             "reads ABC text directly")
    filt = build(IngestFilter, dict(filters or {}))
    return fam.ingest(corpus or fam.default_corpus, filt, progress=progress)
