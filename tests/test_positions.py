"""Where each character stands (issue 19, "structure the model can see"): ``abc_chars``
with ``bar_inputs`` gives every step the share of its bar filled and the bars into its
section; ``train --positions`` trains a char_rnn that reads them, and the sampler
computes them as the characters arrive, exactly as training saw them."""

import json

import pytest
import torch

from tunesmith import abc_meter
from tunesmith.abc_meter import BEAT_STEPS, PositionReader, positions
from tunesmith.cli import main
from tunesmith.models.char_rnn import CharRNN, CharRNNConfig
from tunesmith.representations.abc_chars import AbcChars
from tunesmith.sampling.decode import sample
from tunesmith.sampling.inputs import with_inputs
from tunesmith.sampling.settings import per_head

TUNE = ('M:6/8\nL:1/8\nK:D\nA|"D"dfa !trill!afd|[DF]2A {g}f>ed:|\n'
        "|:(3efg a2 b|d6\nM:3/4\nd2d2d2|]\n")


def read_whole_prefixes(text):
    """The reference: the position after each character, each prefix read afresh."""
    out = []
    for i in range(len(text)):
        lines = text[:i + 1].split("\n")
        k = next((j for j, ln in enumerate(lines) if ln.startswith("K:")), None)
        if k is None or k == len(lines) - 1:
            out.append(PositionReader.HEADER)
            continue
        fields = {}
        for ln in lines[:k + 1]:
            m = abc_meter._FIELD_LINE.match(ln)
            if m and m.group(1) not in fields:
                fields[m.group(1)] = m.group(2)
        reader = abc_meter._header_reader(fields, keep_bars=False)
        body = lines[k + 1:]
        for j, ln in enumerate(body):
            if j < len(body) - 1:
                abc_meter._read_whole_line(reader, ln, 0, ended=True)
            elif not abc_meter._FIELD_LINE.match(ln):
                abc_meter._read_line(reader, ln, 0)
        out.append(abc_meter._position(reader))
    return out


def test_positions_read_one_character_at_a_time_equal_each_prefix_read_whole():
    assert positions(TUNE) == read_whole_prefixes(TUNE)


def test_what_the_positions_say():
    text = "M:6/8\nL:1/8\nK:D\nA|dfa afd:|\n|:f|"
    at = dict(zip(range(len(text)), positions(text), strict=True))
    assert at[text.index("K:D") + 2] == PositionReader.HEADER  # the header, to its end
    assert at[text.index("A")] == (4, 0)  # an eighth of a 6/8 bar: 4 of 24
    assert at[text.index("dfa") + 2] == (12, 1)  # half the first full bar, one bar closed
    assert at[text.index("afd") + 2] == (BEAT_STEPS, 1)  # full
    assert at[text.index(":|") + 1] == (0, 0)  # a repeat starts a new section
    assert at[len(text) - 1] == (0, 1)  # the pickup after |: closed: one bar in


def test_copies_of_a_reader_go_their_own_ways():
    a = PositionReader()
    for c in "M:4/4\nL:1/8\nK:C\nab":
        a.feed(c)
    b = a.copy()
    # a, b, c: three eighths of a 4/4 bar, 9 of 24; the copy closes the bar instead
    assert a.feed("c") == (9, 0) and b.feed("|") == (0, 1) and a.feed("d") == (12, 0)


def test_the_representation_carries_positions_and_rebuilds_them():
    rep = AbcChars.fit([TUNE], bar_inputs=True)
    assert rep.inputs == {"beat": 26, "bar": 17} and AbcChars.fit([TUNE]).inputs == {}
    rows = rep.with_inputs(rep.encode_text(TUNE))
    assert [r[0] for r in rows] == rep.encode_text(TUNE)
    assert [r[1:] for r in rows[1:-1]] == positions(TUNE)  # BOS / EOS read nothing
    assert AbcChars.from_dict(json.loads(json.dumps(rep.to_dict()))) == rep
    assert "bar_inputs" not in AbcChars.fit([TUNE]).to_dict()  # older checkpoints' shape


def small_model(arch: str, rep):
    if arch == "transformer":
        from tunesmith.models.transformer import Transformer, TransformerConfig

        return Transformer(TransformerConfig(d_model=16, num_layers=2, attention_heads=2,
                                             ff_size=32, context=24, heads=dict(rep.heads),
                                             inputs=rep.inputs)).eval()
    return CharRNN(CharRNNConfig(vocab_size=len(rep.vocab), embedding_dim=8, hidden_size=24,
                                 inputs=rep.inputs)).eval()


@pytest.mark.parametrize("arch", ["char_rnn", "transformer"])
def test_sampling_reads_the_positions_training_would_have_given(arch):
    """The sampler's logits for a sampled tune equal the teacher-forced pass over that
    tune's rows (id, beat, bar): the positions it computed on the way are the training
    inputs of the text it wrote (for the Transformer, past its context too)."""
    torch.manual_seed(0)
    rep = AbcChars.fit([TUNE], bar_inputs=True)
    assert_sampling_reads_training_inputs(small_model(arch, rep), rep,
                                          rep.primer_ids("M:6/8\nL:1/8\nK:D\n"), steps=40)


def assert_sampling_reads_training_inputs(model, rep, primer: list[int], steps: int):
    """Sample 3 sequences after ``primer`` with the inputs computed on the way; the
    logits of each one's last step equal the teacher-forced pass over its rows
    (``rep.with_inputs``)."""
    import numpy as np

    wrapped = with_inputs(model, rep)
    out = sample(wrapped, [[i] for i in primer], num=3, max_steps=steps, heads=["token"],
                 seed=3, settings=per_head(["token"]))
    for row in out:
        ids = primer + [s[0] for s in row]
        x = torch.as_tensor(np.asarray(rep.with_inputs(ids)))[None]  # (1, T, 1 + F)
        with torch.no_grad():
            out = model(x)  # char_rnn: (logits, state); transformer: {head: logits}
            full = out[0] if isinstance(out, tuple) else out["token"]
            state, logits = wrapped.init_state(1), None
            for i in ids:
                logits, state = wrapped.step(torch.tensor([[i]]), state)
        torch.testing.assert_close(logits["token"][0], full[0, -1], atol=1e-5, rtol=1e-4)


def test_beam_search_keeps_a_reader_per_hypothesis():
    from tunesmith.sampling.beam import beam_search

    torch.manual_seed(1)
    rep = AbcChars.fit([TUNE], bar_inputs=True)
    model = CharRNN(CharRNNConfig(vocab_size=len(rep.vocab), embedding_dim=8, hidden_size=24,
                                  inputs=rep.inputs)).eval()
    primer = [[i] for i in rep.primer_ids("M:6/8\nL:1/8\nK:D\n")]
    out = beam_search(with_inputs(model, rep), primer, num=2, beam=3, max_steps=20,
                      heads=["token"], stop=("token", rep.eos), seed=0)
    assert len(out) == 2 and all(len(seq) >= 1 for seq in out)


def test_train_with_positions_compose_and_refuse_a_checkpoint_that_lost_them(
        tmp_path, abc_corpus, capsys):
    run = tmp_path / "run"
    assert main(["train", "--preset", "debug", "--positions", "--corpus", str(abc_corpus),
                 "--out", str(run), "--no-progress", "--samples", "0", "--steps", "20"]) == 0
    config = json.loads((run / "config.json").read_text())
    assert config["data"]["positions"] and config["model"]["inputs"] == {"beat": 26, "bar": 17}
    assert main(["compose", "--model", str(run / "best"), "--num", "2", "--seed", "1",
                 "--no-wav", "--max-len", "200", "--unconstrained",
                 "--out", str(tmp_path / "out")]) == 0
    assert len(list((tmp_path / "out").glob("*.abc"))) == 2
    meta_path = run / "best" / "tunesmith.json"
    meta = json.loads(meta_path.read_text())
    del meta["representation"]["bar_inputs"]  # the weights still expect the inputs
    meta_path.write_text(json.dumps(meta))
    capsys.readouterr()
    assert main(["compose", "--model", str(run / "best"), "--num", "1", "--no-wav",
                 "--out", str(tmp_path / "out2")]) == 2
    err = capsys.readouterr().err
    assert "model_config.inputs" in err and "Traceback" not in err


def test_a_model_that_cannot_read_positions_is_refused():
    """Every ABC and events model reads them; a model config without ``inputs`` (a new
    model before it learns to) is refused by name, not trained without them."""
    import dataclasses

    from tunesmith.errors import OptionError
    from tunesmith.families.abc import AbcFamily
    from tunesmith.families.base import model_sizes

    @dataclasses.dataclass(frozen=True)
    class NoInputs:
        vocab_size: int = 0

    with pytest.raises(OptionError, match="does not read position inputs.*char_rnn and "
                       "transformer do"):
        model_sizes(AbcFamily(), NoInputs, AbcChars.fit([TUNE], bar_inputs=True))


def test_the_transformer_reads_positions_in_training_sampling_and_pictures(
        tmp_path, abc_corpus):
    run = tmp_path / "run"
    assert main(["train", "--preset", "debug", "--arch", "transformer", "--positions",
                 "--corpus", str(abc_corpus), "--out", str(run), "--no-progress",
                 "--samples", "0", "--steps", "4"]) == 0
    config = json.loads((run / "config.json").read_text())
    assert config["model"]["inputs"] == {"beat": 26, "bar": 17}
    assert main(["compose", "--model", str(run / "best"), "--num", "2", "--seed", "1",
                 "--no-wav", "--max-len", "120", "--unconstrained",
                 "--out", str(tmp_path / "out")]) == 0
    assert len(list((tmp_path / "out").glob("*.abc"))) == 2
    picture = tmp_path / "attn.png"
    assert main(["attention", "--model", str(run / "best"), str(next(abc_corpus.glob("*.abc"))),
                 "--tune", "3", "--out", str(picture)]) == 0
    assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
