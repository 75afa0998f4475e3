"""Classifier-free guidance of the style (issue 20, ``compose --style-guidance W``): each
step's log-probabilities are the styled model's pushed away from the same model given no
style, by W; both continue families (ABC and MIDI) sample and beam-search through it."""

from __future__ import annotations

import pytest
import torch

from tunesmith.cli import main

from .test_continue import TUNE, continue_run, phrases, small_model, styled_corpus  # noqa: F401


def readings(tradition: str):
    """A small model, two pairs of TUNE labelled ``tradition``, and the model's reading
    of their phrases with the label and with none."""
    from tunesmith.data.pairs import collate
    from tunesmith.families.continuation import encode_pair

    rep = phrases(source_bars=2)
    model = small_model(rep).eval()
    batch = collate([encode_pair(rep, s, t, e, rep.style_ids(tradition=tradition))
                     for s, t, e in rep.pairs(TUNE)][:2])
    with torch.no_grad():
        styled = model.encode(batch["source"], batch["source_len"], batch["style"])
        plain = model.encode(batch["source"], batch["source_len"],
                             torch.zeros_like(batch["style"]))
    return model, batch, styled, plain


def test_guided_log_probabilities_are_the_styled_pushed_away_from_the_plain():
    from tunesmith.families.continuation import guided
    from tunesmith.models.seq2seq import Conditioned, Guided

    model, batch, styled, plain = readings("irish")
    with torch.no_grad():
        first = batch["target"][:, :1]
        ls = Conditioned(model, styled).step(first, styled)[0]["token"].log_softmax(-1)
        lu = Conditioned(model, plain).step(first, plain)[0]["token"].log_softmax(-1)
        for w in (0.0, 1.5):
            g = Guided(model, styled, plain, w)
            out, state = g.step(first, g.init_state(2))
            assert torch.allclose(out["token"], ls + w * (ls - lu), atol=1e-5)
            assert next(iter(state.values())).shape[0] == 4  # styled and plain rows
        assert not torch.allclose(ls, lu)  # the style is read at all
        # the shared entry point: no weight is the plain conditioned model
        assert isinstance(guided(model, batch, "cpu", 0.0), Conditioned)
        assert not isinstance(guided(model, batch, "cpu", 0.0), Guided)
        beam = guided(model, batch, "cpu", 2.0, beam=3)
        assert beam.init_state(6)["h"].shape[0] == 12


def test_selected_rows_keep_their_plain_twins():
    from tunesmith.models.seq2seq import Guided

    model, _, styled, plain = readings("scottish")
    g = Guided(model, styled, plain, 1.0)
    picked = g.select_state(g.init_state(2), torch.tensor([1, 1, 0]))
    assert torch.equal(picked["h"][:3], styled["h"][[1, 1, 0]])
    assert torch.equal(picked["h"][3:], plain["h"][[1, 1, 0]])


def test_compose_with_style_guidance_samples_and_beam_searches(tmp_path, continue_run):  # noqa: F811
    for extra in ([], ["--beam", "2"]):
        out = tmp_path / f"o{len(extra)}"
        rc = main(["compose", "--model", str(continue_run / "best"), "--style", "irish",
                   "--style-guidance", "1.5", "--num", "2", "--seed", "1", "--out", str(out),
                   "--no-wav", *extra])
        assert rc == 0 and len(list(out.glob("*.abc"))) == 2


@pytest.mark.parametrize("args, message", [
    (["--style-guidance", "1"], "--style-guidance guides towards a style: add --style"),
    (["--style", "irish", "--style-guidance", "11"], "must be between 0 and 10"),
])
def test_guidance_without_a_style_or_out_of_range_is_refused(tmp_path, capsys,
                                                               continue_run, args, message):  # noqa: F811
    rc = main(["compose", "--model", str(continue_run / "best"), "--out", str(tmp_path / "o"),
               "--no-wav", *args])
    err = capsys.readouterr().err
    assert rc == 2 and message in err and "Traceback" not in err


def test_continue_guides_towards_an_asked_style_by_default(tmp_path, continue_run):  # noqa: F811
    """``compose --family continue --style S`` guides at W = 2 unless told otherwise (the
    weight at which every style reads as itself; RESULTS.md "Style guidance by default"):
    the default writes what ``--style-guidance 2`` writes, composition.json records the
    weight used, and without a style it samples plainly."""
    import json

    def compose(name, *extra):
        out = tmp_path / name
        assert main(["compose", "--model", str(continue_run / "best"), "--num", "2",
                     "--seed", "3", "--out", str(out), "--no-wav", *extra]) == 0
        manifest = json.loads((out / "composition.json").read_text())
        return ([p.read_text() for p in sorted(out.glob("*.abc"))],
                manifest["options"]["style_guidance"])

    default, explicit = compose("d", "--style", "irish"), compose("e", "--style", "irish",
                                                                  "--style-guidance", "2")
    plain, unstyled = compose("p", "--style", "irish", "--style-guidance", "0"), compose("n")
    assert [w for _, w in (default, explicit, plain, unstyled)] == [2.0, 2.0, 0.0, 0.0]
    assert default[0] == explicit[0] != plain[0]
