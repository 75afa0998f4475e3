"""Beam search through the step interface: it finds what greedy misses, keeps the
family's constraints, and its bad requests are one-line errors."""

from __future__ import annotations

import pytest
import torch

from tunesmith import app
from tunesmith.models.layers import select_rnn_state
from tunesmith.sampling.beam import beam_search

from .test_cli import assert_one_line_error, run_cli


class Table:
    """A toy model whose next-token log-probabilities depend on the last token only:
    after 0 (start): token 1 with p=0.6, token 2 with p=0.4; after 1: tokens 3..5
    equally (p=1/3 each); after 2: token 3 with p=0.9. Greedy takes 1 then a third
    (0.6 x 1/3 = 0.2); the best two-step sequence is 2, 3 (0.4 x 0.9 = 0.36)."""

    primes = False

    def __init__(self):
        p = torch.full((6, 6), 1e-9)
        p[0, 1], p[0, 2] = 0.6, 0.4
        p[1, 3:6] = 1 / 3
        p[2, 3], p[2, 4] = 0.9, 0.1
        p[3:, 0] = 1.0  # 0 doubles as the stop token
        self.table = p.log()

    def eval(self):
        return self

    def init_state(self, batch):
        return None

    def select_state(self, state, rows):
        return state

    def step(self, ids, state):
        return {"token": self.table[ids[:, 0]]}, state


def test_beam_finds_the_sequence_greedy_misses():
    greedy = beam_search(Table(), [[0]], num=1, beam=1, max_steps=3, heads=["token"],
                         stop=("token", 0))[0]
    best = beam_search(Table(), [[0]], num=1, beam=2, max_steps=3, heads=["token"],
                       stop=("token", 0))[0]
    assert [s[0] for s in greedy][:2] == [1, 3]
    assert [s[0] for s in best] == [2, 3, 0]


def test_stochastic_beam_varies_with_the_seed_and_stays_likely():
    outs = {tuple(s[0] for s in beam_search(Table(), [[0]], num=1, beam=2, max_steps=3,
                                            heads=["token"], stop=("token", 0),
                                            stochastic=True, seed=k)[0])
            for k in range(20)}
    assert len(outs) > 1 and all(o[-1] == 0 for o in outs)


def test_rnn_state_rows_are_reordered():
    h = torch.arange(6.0).reshape(1, 3, 2)
    picked = select_rnn_state((h, -h), torch.tensor([2, 0, 0]))
    assert picked[0][0, :, 0].tolist() == [4.0, 0.0, 0.0] and picked[1][0, 0, 1] == -5.0


def test_events_beam_keeps_the_note_off_constraint():
    from tunesmith.families.events import sample_messages

    ckpt = app.load_model(family="events")
    msgs = sample_messages(ckpt.model, ckpt.representation,
                           app.ComposeOptions(num=2, seed=0, beam=3, max_len=120,
                                              stochastic_beam=True))
    for m in msgs:
        sounding = set()
        for note, velocity, _ in m[1:]:
            if note < 88 and velocity == 0:
                assert note in sounding  # a note-off names a sounding key
                sounding.discard(note)
            elif note < 88:
                assert note not in sounding
                sounding.add(note)


def test_abc_beam_through_compose_writes_tunes(tmp_path):
    ckpt = app.load_model(family="abc")
    tunes = app.compose(ckpt, app.ComposeOptions(num=2, seed=0, beam=2, max_len=200))
    assert len(tunes) == 2 and all(t.text.startswith("X:") for t in tunes)


def test_a_deterministic_beam_says_when_its_pieces_are_alike(monkeypatch):
    ckpt = app.load_model(family="abc")
    notes = []
    # unconstrained: the tunes as the beam found them (a tune the meter or tonic check
    # rejects is drawn afresh, and would differ)
    tunes = app.compose(ckpt, app.ComposeOptions(num=3, seed=0, beam=2, max_len=200,
                                                 constrain=False),
                        log=lambda message, level="info": notes.append((level, message)))
    assert tunes[0].text.split("\n", 2)[2] == tunes[2].text.split("\n", 2)[2]
    assert ("warning", "beam search (--beam) is deterministic: 2 of 3 tunes repeat an "
            "earlier one (tune 2 = 1, 3 = 1); add --stochastic-beam for different pieces "
            "near the most probable one") in notes
    notes.clear()
    monkeypatch.setenv("TUNESMITH_LIMITS", "batch_tokens=250")  # one tune a batch
    app.compose(ckpt, app.ComposeOptions(num=3, seed=0, beam=2, max_len=200, constrain=False),
                log=lambda message, level="info": notes.append((level, message)))
    assert [m for _, m in notes if "deterministic" in m] == [
        "beam search (--beam) is deterministic: 2 of 3 tunes repeat an earlier one (tune 2 "
        "= 1, 3 = 1); add --stochastic-beam for different pieces near the most probable one"]
    monkeypatch.delenv("TUNESMITH_LIMITS")
    notes.clear()
    varied = app.compose(ckpt, app.ComposeOptions(num=3, seed=0, beam=2, max_len=200,
                                                  stochastic_beam=True),
                         log=lambda message, level="info": notes.append((level, message)))
    assert len({t.text.split("\n", 2)[2] for t in varied}) == 3
    assert not [m for _, m in notes if "deterministic" in m]


@pytest.mark.parametrize("argv,fragment", [
    (["--beam", "0"], "--beam must be between 1 and 64"),
    (["--beam", "2", "--temperature", "0.5"], "--temperature does not apply to beam"),
    (["--length-penalty", "1"], "--length-penalty is for beam search"),
    (["--family", "pianoroll", "--beam", "2"], "--beam is not an option of the pianoroll"),
])
def test_bad_beam_requests(capsys, tmp_path, argv, fragment):
    rc, _, err = run_cli(capsys, "compose", *argv, "--out", tmp_path / "o", "--no-wav")
    assert_one_line_error(rc, err, fragment)
