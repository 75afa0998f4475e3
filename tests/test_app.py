"""The application layer as a front end other than the CLI uses it: typed requests in,
results out, two calls at once in one process, and a model that joins from outside the
package."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from torch import nn

from tunesmith import app, families, models, presets
from tunesmith.errors import OptionError
from tunesmith.options import opt
from tunesmith.training.config import TrainConfig


def files_of(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())
            if p.suffix in (".abc", ".mid", ".png")}


JOBS = {  # two compositions: the shipped ABC model, and the events model with a primer length
    "abc": ("abc", app.ComposeOptions(num=3, seed=4, max_len=400)),
    "events": ("events", app.ComposeOptions(num=2, seed=6, max_len=120)),
}


def test_two_compositions_at_once_write_what_two_in_a_row_write(tmp_path):
    ckpts = {name: app.load_model(family=fam) for name, (fam, _) in JOBS.items()}
    output = app.Output(wav=True, png=True)

    def job(name: str, where: Path):
        app.write(ckpts[name], JOBS[name][1], where / name, output)

    for name in JOBS:  # in a row
        job(name, tmp_path / "row")
    errors = []

    def run(name):
        try:
            job(name, tmp_path / "together")
        except Exception as e:  # noqa: BLE001 - reported by the assertion below
            errors.append(e)

    threads = [threading.Thread(target=run, args=(name,)) for name in JOBS]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    for name in JOBS:
        row, together = tmp_path / "row" / name, tmp_path / "together" / name
        assert files_of(row) == files_of(together) and files_of(row)
        assert sorted(p.name for p in row.glob("*.wav")) == sorted(
            p.name for p in together.glob("*.wav"))


def test_one_model_shared_by_two_threads_composes_as_it_does_alone(tmp_path):
    ckpt = app.load_model(family="abc")
    opts = [app.ComposeOptions(num=2, seed=s, max_len=300) for s in (1, 2)]
    alone = [[c.text for c in app.compose(ckpt, o)] for o in opts]
    together: dict[int, list[str]] = {}
    threads = [threading.Thread(target=lambda i=i: together.__setitem__(
        i, [c.text for c in app.compose(ckpt, opts[i])])) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [together[0], together[1]] == alone


def test_compose_returns_pieces_in_memory_and_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    heard = []
    pieces = app.compose(app.load_model(family="pianoroll"),
                         app.ComposeOptions(num=2, seed=0, max_len=16), sink=heard.append)
    assert [c.index for c in pieces] == [1, 2] and len(heard) == 2
    assert all(c.piece is not None and c.piece.notes for c in pieces)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("family", ["events", "remi", "pianoroll", "abc", "continue"])
def test_a_long_piece_shows_its_sampling_as_it_goes(family):
    events = []
    length = {"abc": {"max_len": 300}, "continue": {"bars": 4}}.get(family, {"seconds": 8})
    app.compose(app.load_model(family=family), app.ComposeOptions(num=1, seed=0, **length),
                progress=events.append)
    sampling = [e for e in events if e.task == "sampling"]
    assert len(sampling) >= 2 and sampling[-1].finished  # counted on the way, then closed
    counts = [e.done for e in sampling]  # (the closing event may repeat the last count)
    assert counts[:-1] == sorted(set(counts[:-1])) and counts[-1] >= counts[-2]
    assert sampling[0].unit == families.get(family).unit


def test_a_piece_much_shorter_than_the_seconds_asked_is_said_to_be_short():
    from tunesmith.app.composing import _say_short
    from tunesmith.families.base import Composition
    from tunesmith.music import Note, Piece, Tempo, Track

    def piece(beats: float) -> Piece:
        return Piece(tracks=[Track(notes=[Note(0.0, beats, 60, 80)])], tempos=[Tempo(0.0, 120)])

    heard = []
    _say_short([Composition(1, "a", piece(4.0)), Composition(2, "b", piece(18.0))],
               app.ComposeOptions(seconds=10, beam=2), families.get("events"),
               lambda m, level="info": heard.append((m, level)))
    assert heard == [("piece 1 lasts 2.0 s of the 10 s asked: the model let little time "
                      "pass (beam search keeps the likeliest steps, often no time)", "warning")]


class _EagerToEnd:
    """A model that wants to end every piece at once (its end token's logit raised)."""

    def __init__(self, model, end: int):
        self.model, self.end = model, end

    def __getattr__(self, name):
        return getattr(self.model, name)

    def _raised(self, out):
        logits, state = out
        token = logits["token"].clone()
        token[..., self.end] += 50.0
        return {**logits, "token": token}, state

    def step(self, ids, state):
        return self._raised(self.model.step(ids, state))

    def prime(self, ids, lengths, state):
        return self._raised(self.model.prime(ids, lengths, state))


def test_remi_ends_a_piece_by_its_own_token_only_past_the_seconds_asked():
    from tunesmith.families.remi import sample_tokens
    from tunesmith.representations.remi import BAR

    ckpt = app.load_model(family="remi")
    rep = ckpt.representation
    eager = _EagerToEnd(ckpt.model, rep.eos)
    for seq in sample_tokens(eager, rep, app.ComposeOptions(num=2, seed=0, seconds=4.0)):
        bars = sum(1 for k in rep.kinds()[seq] if k == BAR)  # 4 s at 120 BPM: two 4/4 bars
        assert seq[-1] == rep.eos and bars >= 3, (bars, seq[-5:])  # ended, past the length
    for seq in sample_tokens(eager, rep, app.ComposeOptions(num=2, seed=0, bars=2)):
        bars = sum(1 for k in rep.kinds()[seq] if k == BAR)
        assert seq[-1] == rep.eos and bars == 1  # --bars: the model may end sooner


def test_each_batch_plays_at_the_tempo_of_the_corpus_piece_it_continues(monkeypatch):
    import tunesmith.families.events as events
    from tunesmith.music import Tempo

    real = events.primer_piece

    def primer_piece(primer, seed, corpus):  # a corpus whose pieces differ in tempo
        piece = real(primer, seed, corpus)
        piece.tempos = [Tempo(0.0, 60.0 + (seed or 0) % 50)]
        return piece

    monkeypatch.setattr(events, "primer_piece", primer_piece)
    monkeypatch.setenv("TUNESMITH_LIMITS", "batch_tokens=200")  # one piece a batch
    heard = []
    pieces = app.compose(app.load_model(family="events"),
                         app.ComposeOptions(num=3, seed=1, primer="corpus", max_len=120),
                         log=lambda m, level="info": heard.append(m))
    drawn = [float(m.split("tempo, ")[1].split(" BPM")[0]) for m in heard if "tempo, " in m]
    assert len(drawn) == 3 and len(set(drawn)) == 3  # a piece of the corpus per batch
    assert [c.piece.tempos[0].qpm for c in pieces] == drawn  # each at its own primer's
    assert sum("from the model's corpus" in m for m in heard) == 3


def test_an_option_the_family_does_not_take_is_refused_by_name():
    ckpt = app.load_model(family="pianoroll")
    with pytest.raises(OptionError) as e:
        app.compose(ckpt, app.ComposeOptions(num=1, temperature=0.5))
    assert e.value.option == "temperature"


def test_a_length_in_seconds_and_in_steps_together_are_refused():
    from tunesmith import families

    for name in ("events", "pianoroll", "remi"):
        with pytest.raises(OptionError, match="and --seconds both given") as e:
            families.get(name).compose_options(app.ComposeOptions(seconds=10, max_len=50))
        assert e.value.option == "max_len"
        filled = families.get(name).compose_options(app.ComposeOptions(seconds=10))
        assert families.get(name).compose_options(filled) == filled  # filled in, not given


def test_a_writer_refuses_a_folder_that_is_not_empty_and_overwrites_only_its_own(tmp_path):
    ckpt = app.load_model(family="pianoroll")
    out = tmp_path / "out"
    app.write(ckpt, app.ComposeOptions(num=3, seed=0, max_len=8), out, app.Output(wav=False))
    (out / "mine.txt").write_text("keep me")
    with pytest.raises(OptionError, match="not empty"):
        app.write(ckpt, app.ComposeOptions(num=1, seed=0, max_len=8), out,
                  app.Output(wav=False))
    before = sorted(p.name for p in out.iterdir())
    with pytest.raises(OptionError):  # refused after the folder was accepted: nothing lost
        app.write(ckpt, app.ComposeOptions(num=1, seed=0, max_len=8, temperature=0.0), out,
                  app.Output(wav=False, overwrite=True))
    assert sorted(p.name for p in out.iterdir()) == before
    app.write(ckpt, app.ComposeOptions(num=1, seed=0, max_len=8), out,
              app.Output(wav=False, overwrite=True))
    names = sorted(p.name for p in out.iterdir())
    assert names == ["composition.json", "mine.txt", "piece_01.mid", "piece_01.png"]
    theirs = tmp_path / "theirs"  # someone's own files, no compose's: never replaced
    theirs.mkdir()
    (theirs / "piece_01.mid").write_bytes(b"my own piece")
    (theirs / "my_song.mid").write_bytes(b"and my song")
    with pytest.raises(OptionError, match="holds files no compose wrote"):
        app.write(ckpt, app.ComposeOptions(num=1, seed=0, max_len=8), theirs,
                  app.Output(wav=False, overwrite=True))
    assert (theirs / "piece_01.mid").read_bytes() == b"my own piece"
    cut = tmp_path / "cut"  # an interrupted compose's pieces, no composition.json yet
    cut.mkdir()
    for name in ("piece_01.mid", "piece_01.png", "piece_02.mid"):
        (cut / name).write_bytes(b"half done")
    app.write(ckpt, app.ComposeOptions(num=1, seed=0, max_len=8), cut,
              app.Output(wav=False, overwrite=True))
    assert sorted(p.name for p in cut.iterdir()) == ["composition.json", "piece_01.mid",
                                                     "piece_01.png"]


def test_an_interrupted_compose_lists_what_it_wrote_and_its_seed(tmp_path, monkeypatch):
    import json

    from tunesmith import families

    ckpt = app.load_model(family="pianoroll")
    fam = families.get("pianoroll")
    compose = type(fam).compose

    def cut_short(self, checkpoint, opts, sink=None, log=None, progress=None, start=1):
        compose(self, checkpoint, opts, sink=sink, log=log, progress=progress, start=start)
        raise KeyboardInterrupt  # Ctrl-C after the first batch's pieces were written

    monkeypatch.setattr(type(fam), "compose", cut_short)
    said = []
    with pytest.raises(KeyboardInterrupt):
        app.write(ckpt, app.ComposeOptions(num=2, seed=7, max_len=8), tmp_path / "out",
                  app.Output(wav=False), log=lambda m, level="info": said.append(m))
    manifest = json.loads((tmp_path / "out" / "composition.json").read_text())
    assert manifest["interrupted"] is True and manifest["options"]["seed"] == 7
    assert manifest["files"] == sorted(p.name for p in (tmp_path / "out").iterdir()
                                       if p.name != "composition.json")
    assert any(m.startswith("interrupted: 2 of 2 pieces written") for m in said)


def test_composition_json_records_the_repeat_bias_a_family_filled_in(tmp_path):
    import json

    from tunesmith.families.pianoroll import REPEAT_BIAS

    ckpt = app.load_model(family="pianoroll")  # reads a lookback: the default tilt is on
    for asked, used in ((None, REPEAT_BIAS), (0.0, 0.0), (2.5, 2.5)):
        out = tmp_path / f"w{asked}"
        app.write(ckpt, app.ComposeOptions(num=1, seed=0, max_len=8, repeat_bias=asked),
                  out, app.Output(wav=False))
        options = json.loads((out / "composition.json").read_text())["options"]
        assert options["repeat_bias"] == used
    out = tmp_path / "events"  # a family without the option records none
    app.write(app.load_model(family="events"), app.ComposeOptions(num=1, seed=0, max_len=8),
              out, app.Output(wav=False))
    assert json.loads((out / "composition.json").read_text())["options"]["repeat_bias"] is None


# --- a model from outside the package --------------------------------------------------

@dataclass(frozen=True)
class BigramConfig:
    vocab_size: int = opt(0, "set from the representation", derived=True)
    width: int = opt(8, "embedding width")


class Bigram(nn.Module):
    """The next character from the last one only: the smallest model over ABC text."""

    family = "bigram_test"
    config_class = BigramConfig
    representation = "abc_chars"
    sampler = "step"
    primes = False
    likelihood = "exact"
    gibbs_sampling = False

    def __init__(self, config: BigramConfig):
        super().__init__()
        self.config = config
        self.embed = nn.Embedding(config.vocab_size, config.width)
        self.out = nn.Linear(config.width, config.vocab_size)

    def loss(self, batch):
        logits = self.out(self.embed(batch["inputs"]))  # (B, T, V)
        mask = batch["targets"] != 0
        nll = nn.functional.cross_entropy(logits[mask], batch["targets"][mask])
        right = (logits.argmax(-1) == batch["targets"])[mask].float().mean()
        return {"loss": nll, "nll": nll.detach(), "accuracy": right, "count": mask.sum()}

    def init_state(self, batch_size):
        return None

    def step(self, ids, state):
        return {"token": self.out(self.embed(ids[:, 0]))}, state


@pytest.fixture
def bigram(monkeypatch):
    monkeypatch.setattr(models, "_EXTRA", {})
    monkeypatch.setitem(presets.PRESETS, "bigram_test", {})
    models.register(Bigram)
    presets.register("bigram_test", "debug", presets.Preset(
        model={"width": 8}, train=TrainConfig(steps=6, batch_size=4, seq_len=32, lr=1e-2,
                                              warmup=0, eval_every=3, log_every=3,
                                              eval_max_items=4)))
    return Bigram


def test_a_model_registered_from_outside_trains_composes_and_has_flags(bigram, abc_corpus,
                                                                        tmp_path, capsys):
    assert "bigram_test" in families.get("abc").models()
    run = app.train(app.TrainRequest(family="abc", arch="bigram_test", preset="debug",
                                     corpus=str(abc_corpus), out=str(tmp_path / "run"),
                                     samples=0))
    assert run.summary["step"] == 6 and (tmp_path / "run" / "best").is_dir()
    tunes = app.compose(app.load_model(tmp_path / "run" / "best"),
                        app.ComposeOptions(num=2, seed=0, max_len=50, constrain=False))
    assert len(tunes) == 2 and all(t.text for t in tunes)
    from tunesmith.cli import main  # its settings became flags of `train`

    assert main(["train", "--family", "abc", "--arch", "bigram_test", "--preset", "debug",
                 "--width", "4", "--corpus", str(abc_corpus), "--print-config"]) == 0
    assert "width: 4" in capsys.readouterr().out


def test_a_model_that_does_not_declare_itself_is_refused():
    class Vague(nn.Module):
        family = "vague"

    with pytest.raises(TypeError, match="does not declare"):
        models.register(Vague)


def test_a_run_plan_takes_the_preset_then_the_request():
    p = app.plan(app.TrainRequest(family="events", preset="small", model={"hidden_size": 64},
                                  train={"lr": 0.01}, data={"split": "time"}))
    assert p.arch == "event_lstm" and p.model["hidden_size"] == 64
    assert p.model["note_dim"] == 64 and p.train.lr == 0.01 and p.train.steps == 1500
    assert p.data.transpose == 5 and p.data.split == "time"
    with pytest.raises(OptionError) as e:
        app.plan(app.TrainRequest(family="abc", data={"transpose": 3}))
    assert e.value.option == "transpose"
    with pytest.raises(OptionError) as e:
        app.plan(app.TrainRequest(family="abc", train={"lr": "fast"}))
    assert e.value.option == "lr"


def test_step_runs_on_cpu_for_every_registered_step_model():
    """Every model that declares the step sampler can be sampled through it."""
    from tunesmith.sampling.decode import sample
    from tunesmith.sampling.settings import SamplingSettings

    sizes = {"vocab_size": 9, "note_classes": 91, "velocity_classes": 17, "time_classes": 12}
    for name, cls in models.registry().items():
        if cls.sampler != "step":
            continue
        fields = {f for f in cls.config_class.__dataclass_fields__}
        given = {k: v for k, v in sizes.items() if k in fields}
        if "heads" in fields:  # a model over any representation's heads
            given["heads"] = {"note": 91, "velocity": 17, "time": 12}
        if "empty_source" in fields:  # a phrase model's empty phrase: start, end messages
            given["empty_source"] = [[89, 0, 0], [90, 0, 0]]
        model = cls(cls.config_class(**given))
        heads = ["note", "velocity", "time"] if "heads" in given or "vocab_size" not in \
            fields else ["token"]
        torch.manual_seed(0)
        out = sample(model, [[1] * len(heads)], num=2, max_steps=5, heads=heads,
                     settings=SamplingSettings(), seed=0)
        assert len(out) == 2 and len(out[0]) == 5, name


def test_a_run_of_another_architecture_gets_its_own_default_folder():
    from tunesmith.app.training import default_run_dir

    own = app.plan(app.TrainRequest(family="abc", preset="small"))
    other = app.plan(app.TrainRequest(family="abc", arch="transformer", preset="small"))
    assert default_run_dir(own) == "runs/abc-small"
    assert default_run_dir(other) == "runs/abc-transformer-small"


def test_seconds_longer_than_a_wav_may_hold_is_refused_before_composing(tmp_path,
                                                                          monkeypatch):
    from tunesmith.io import audio

    monkeypatch.setenv("TUNESMITH_LIMITS", "wav_seconds=5")
    monkeypatch.setattr(audio, "fluidsynth_available", lambda: True)
    ckpt = app.load_model(family="events")
    with pytest.raises(OptionError, match="seconds is 10, but a WAV may hold at most 5 s"):
        app.write(ckpt, app.ComposeOptions(num=1, seed=0, seconds=10.0), tmp_path / "a",
                  app.Output())
    assert not (tmp_path / "a").exists()
    app.write(ckpt, app.ComposeOptions(num=1, seed=0, seconds=10.0), tmp_path / "b",
              app.Output(wav=False))  # no WAV asked: composed
    assert (tmp_path / "b" / "piece_01.mid").exists()


def test_a_second_compose_into_a_folder_being_written_is_refused(tmp_path):
    from tunesmith.errors import TunesmithError
    from tunesmith.io.paths import WRITING, writing_lock

    ckpt = app.load_model(family="pianoroll")
    out = tmp_path / "out"
    out.mkdir()
    with writing_lock(out, "compose"):  # another compose, still writing (this process
        (out / WRITING).write_text("1 compose\n")  # stands in for it: pid 1 is alive)
        with pytest.raises(TunesmithError, match=r"another tunesmith compose \(process 1\) "
                                                 "is writing into this folder"):
            app.write(ckpt, app.ComposeOptions(num=1, seed=0, max_len=8), out,
                      app.Output(wav=False, overwrite=True))
    assert not (out / WRITING).exists()
    (out / WRITING).write_text(f"{2 ** 22 + 12345} compose\n")  # its writer is gone
    app.write(ckpt, app.ComposeOptions(num=1, seed=0, max_len=8), out, app.Output(wav=False))
    assert sorted(p.name for p in out.iterdir()) == ["composition.json", "piece_01.mid",
                                                     "piece_01.png"]
