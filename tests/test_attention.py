"""Attention pictures: where each step of a piece falls (bars, beats), the figure's axes in
those terms with rows that sum to 1, ``tunesmith attention`` and ``compose --attention``
as a user runs them, and their bad requests as one-line errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from tunesmith.cli import main
from tunesmith.io.midi import write_midi
from tunesmith.io.plots import attention_figure
from tunesmith.music import Piece, TimeSignature
from tunesmith.representations.abc_chars import AbcChars
from tunesmith.representations.events import BOS, Events
from tunesmith.representations.pianoroll import PianoRoll

from .test_cli import assert_one_line_error, run_cli
from .test_events_cli import make_piece

TUNE = "M:4/4\nL:1/8\nK:G\n|:GABc d2 e2|fg a2 b4:|\nc4 z4||\n"


# --- where each step falls ----------------------------------------------------------------
def test_abc_characters_fall_in_the_header_or_the_bar_their_bar_line_closes():
    rep = AbcChars.fit([TUNE])
    pos = rep.positions(rep.encode_text(TUNE))
    shown = "".join("." if b < 0 else str(b) for b in pos.bars)
    # BOS + the header (-1), "|:GABc d2 e2|" bar 0, "fg a2 b4:|\n" bar 1, "c4 z4||\n" + EOS 2
    assert shown == "." * 17 + "0" * 13 + "1" * 11 + "2" * 9
    assert pos.unit == "bar" and pos.time[17] == 0 and 1 <= pos.time[30] < 2


def test_event_messages_fall_on_the_beat_their_time_classes_add_up_to():
    rep = Events()
    quarter, half = rep.time_class(1.0), rep.time_class(2.0)
    messages = [[BOS, 0, 0], [40, 5, 0], [40, 0, quarter], [42, 5, 0], [42, 0, half],
                [44, 5, half]]
    pos = rep.positions(messages, beats_per_bar=3.0)
    assert pos.time == (0.0, 0.0, 1.0, 1.0, 3.0, 5.0)
    assert pos.bars == (0, 0, 0, 0, 1, 1) and pos.unit == "beat"


def test_frames_fall_at_their_step_of_the_beat():
    pos = PianoRoll(steps_per_beat=2).positions(np.zeros((10, 88)), beats_per_bar=2.0)
    assert pos.time[:3] == (0.0, 0.5, 1.0) and pos.bars == (0,) * 4 + (1,) * 4 + (2,) * 2


# --- the picture ---------------------------------------------------------------------------
def test_the_figure_is_labelled_in_bars_and_its_weights_rows_sum_to_one():
    from tunesmith.models.transformer import Transformer, TransformerConfig

    rep = AbcChars.fit([TUNE])
    ids = rep.encode_text(TUNE)
    torch.manual_seed(0)
    model = Transformer(TransformerConfig(heads=rep.heads, d_model=16, num_layers=2,
                                          attention_heads=2, ff_size=32, context=64))
    w = model.attention(torch.tensor(ids)).numpy()
    assert w.shape == (2, 2, len(ids), len(ids))
    assert np.allclose(w.sum(-1), 1, atol=1e-5) and np.allclose(np.triu(w, 1), 0)
    pos = rep.positions(ids)
    fig = attention_figure(w, pos.time, pos.unit, pos.bars, "a tune")
    mean, summary = fig.axes[4], fig.axes[5]
    assert (mean.get_xlabel(), mean.get_ylabel()) == ("bar attended to", "bar attending")
    assert [t.get_text() for t in mean.get_xticklabels()] == ["hdr", "1", "2", "3"]
    assert summary.get_title().startswith("bar to bar")
    assert [t.get_text() for t in summary.get_yticklabels()] == ["hdr", "1", "2", "3"]
    assert [a.get_title() for a in fig.axes[:4]] == [
        "layer 1 head 1", "layer 1 head 2", "layer 2 head 1", "layer 2 head 2"]


# --- the commands ----------------------------------------------------------------------------
def _train(root, *argv) -> str:
    run = root / "run"
    assert main(["train", *map(str, argv), "--preset", "debug", "--out", str(run),
                 "--no-progress", "--samples", "0", "--steps", "10"]) == 0
    return str(run / "best")


@pytest.fixture(scope="module")
def abc_transformer(tmp_path_factory, abc_corpus) -> str:
    return _train(tmp_path_factory.mktemp("abc"), "--family", "abc", "--arch", "transformer",
                  "--corpus", abc_corpus)


@pytest.fixture(scope="module")
def events_transformer(tmp_path_factory) -> tuple[str, object]:
    root = tmp_path_factory.mktemp("events")
    for i in range(4):
        write_midi(make_piece(i), root / "midi" / f"piece{i}.mid")
    return _train(root, "--family", "events", "--arch", "transformer", "--corpus",
                  root / "midi"), root / "midi" / "piece0.mid"


def test_attention_draws_a_tune_of_a_book(tmp_path, abc_corpus, abc_transformer, capsys):
    book = next(abc_corpus.glob("*.abc"))
    out = tmp_path / "attn.png"
    assert main(["attention", "--model", abc_transformer, str(book), "--tune", "3",
                 "--out", str(out)]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_attention_of_a_midi_file_defaults_beside_it(tmp_path, events_transformer, capsys):
    model, piece = events_transformer
    midi = tmp_path / "chorale.mid"
    piece_obj = make_piece(7)
    piece_obj.time_signatures = [TimeSignature(0.0, 3, 4)]
    write_midi(piece_obj, midi)
    assert main(["attention", "--model", model, str(midi), "--max-steps", "64"]) == 0
    assert (tmp_path / "chorale_attention.png").is_file()


def test_compose_attention_writes_one_picture_per_piece(tmp_path, events_transformer):
    model, _ = events_transformer
    out = tmp_path / "pieces"
    assert main(["compose", "--model", model, "--num", "2", "--seed", "1", "--max-len", "40",
                 "--no-wav", "--attention", "--out", str(out)]) == 0
    pictures = sorted(p.name for p in out.glob("*_attention.png"))
    assert pictures == ["piece_01_attention.png", "piece_02_attention.png"]
    assert set(pictures) <= set(json.loads((out / "composition.json").read_text())["files"])


def test_a_primer_longer_than_the_context_slides_the_cache(tmp_path, events_transformer):
    model, piece = events_transformer  # the debug context is 48 messages
    out = tmp_path / "continued"
    assert main(["compose", "--model", model, "--num", "1", "--seed", "2", "--primer",
                 str(piece), "--primer-len", "80", "--max-len", "120", "--no-wav",
                 "--out", str(out)]) == 0
    assert len(list(out.glob("*.mid"))) == 1


# --- bad requests ------------------------------------------------------------------------------
def test_a_model_without_attention_is_a_one_line_error(capsys, tmp_path, abc_corpus):
    book = next(abc_corpus.glob("*.abc"))
    rc, _, err = run_cli(capsys, "attention", "--family", "abc", book)
    assert_one_line_error(rc, err, "is for models with attention; this one is char_rnn")
    rc, _, err = run_cli(capsys, "compose", "--family", "events", "--attention", "--out",
                         tmp_path / "o", "--no-wav")
    assert_one_line_error(rc, err, "is for models with attention")
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())


@pytest.mark.parametrize("argv,fragment", [
    (["--max-steps", "1"], "--max-steps must be between 2 and 4096"),
    (["--out", "x.jpg"], "--out must name a .png file"),
    (["--tune", "999"], "tune 999 out of range"),
])
def test_bad_attention_requests(capsys, abc_corpus, abc_transformer, argv, fragment):
    book = next(abc_corpus.glob("*.abc"))
    rc, _, err = run_cli(capsys, "attention", "--model", abc_transformer, book, *argv)
    assert_one_line_error(rc, err, fragment)


def test_an_abc_model_reads_only_abc(capsys, tmp_path, abc_transformer):
    midi = tmp_path / "x.mid"
    write_midi(make_piece(1), midi)
    rc, _, err = run_cli(capsys, "attention", "--model", abc_transformer, midi)
    assert_one_line_error(rc, err, "an ABC model reads ABC text, this is a midi file")


def test_a_file_without_notes_is_refused(capsys, tmp_path, events_transformer):
    empty = tmp_path / "empty.mid"
    write_midi(Piece(tracks=[]), empty)
    model, _ = events_transformer
    rc, _, err = run_cli(capsys, "attention", "--model", model, empty)
    assert_one_line_error(rc, err, f"{empty}: no notes on the piano keys to read")


def test_a_piece_is_read_as_the_model_reads_it():
    """``Family.encoded``: a composed events piece re-encodes to its messages, in bars of
    its own meter."""
    from tunesmith import families

    piece = Piece(tracks=make_piece(3).tracks, time_signatures=[TimeSignature(0.0, 6, 8)])
    ids, pos = families.get("events").encoded(piece, Events())
    assert len(ids) == len(pos.time) and pos.unit == "beat"
    assert max(pos.bars) == int(max(pos.time) // 3.0)


def test_the_studio_shows_a_transformer_piece_with_its_attention(tmp_path, events_transformer):
    pytest.importorskip("fastapi")
    from pathlib import Path

    from .test_studio import make_client, wait

    model, _ = events_transformer
    c, studio = make_client(tmp_path / "data", Path(model).parent.parent)
    with c:
        models = c.get("/api/models").json()["models"]
        mid = next(m["id"] for m in models if m["source"] == "run")
        r = c.post("/api/compose", json={"model": mid, "options": {"num": 1, "seed": 3,
                                                                    "max_len": 40}})
        assert r.status_code == 202, r.text
        done = wait(c, r.json()["job"])
        comp = c.get(f"/api/compositions/{done['result']['pieces'][0]}").json()
        assert "attention" in comp["kinds"]
        png = c.get(f"/api/compositions/{comp['id']}/files/attention")
        assert png.headers["content-type"] == "image/png" and png.content[:4] == b"\x89PNG"
        assert 'class="attention"' in c.get(f"/fragments/composition/{comp['id']}").text
