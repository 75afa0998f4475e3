"""Task families: what ties a corpus kind, a representation, a model family, its shipped
default and its composer together. The CLI dispatches through :data:`FAMILIES`;
``compose --family NAME`` names one of them."""

from __future__ import annotations

from importlib import import_module

# name -> module holding: MODEL (default model family; MODELS lists the others a family
# can train, for `train --arch`), REPRESENTATION, PRETRAINED (package folder
# name), DEFAULT_CORPUS, data_options(args), prepare_data(corpus, representation, **data),
# model_sizes(representation), batches(prepared, train_config, **data), ComposeOptions,
# compose(checkpoint, options, out_dir)
FAMILIES: dict[str, str] = {"abc": "tunesmith.families.abc",
                            "events": "tunesmith.families.events",
                            "pianoroll": "tunesmith.families.pianoroll"}
DEFAULT_FAMILY = "abc"


def get(name: str):
    from tunesmith.errors import TunesmithError

    if name not in FAMILIES:
        raise TunesmithError(f"unknown family {name!r} (known: {', '.join(FAMILIES)})")
    return import_module(FAMILIES[name])


def for_representation(rep_name: str):
    for name in FAMILIES:
        mod = get(name)
        if mod.REPRESENTATION == rep_name:
            return mod
    from tunesmith.errors import CheckpointError

    raise CheckpointError(f"no family composes representation {rep_name!r}")


def pretrained_dir(name: str):
    from pathlib import Path

    return Path(__file__).resolve().parent.parent / "pretrained" / get(name).PRETRAINED
