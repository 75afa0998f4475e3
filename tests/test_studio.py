"""The studio's HTTP API, every endpoint, the bad requests too (FastAPI's TestClient).

A studio is made over a temporary data folder with the debug run of conftest.py as its
one trained model; composing with the debug model takes about a second."""

from __future__ import annotations

import ast
import json
import sqlite3
import subprocess
import sys
import time
import warnings
from pathlib import Path
from urllib.parse import quote

import pytest

pytest.importorskip("fastapi", reason="the studio's extras are not installed "
                    "(pip install 'tunesmith[studio]')")
pytest.importorskip("multipart", reason="python-multipart is not installed")

with warnings.catch_warnings():  # starlette would rather have httpx2; httpx works
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient  # noqa: E402

from tunesmith.families import pretrained_dir  # noqa: E402
from tunesmith.studio.config import StudioSettings  # noqa: E402
from tunesmith.studio.server import create_app  # noqa: E402
from tunesmith.studio.service import Studio  # noqa: E402

BASE = "http://127.0.0.1:8000"
PRIMER = "M:6/8\nL:1/8\nK:D\n"


def make_client(data: Path, runs: Path | None = None, cwd: Path | None = None, **kw):
    settings = StudioSettings(data_dir=str(data),
                              runs_dirs=(str(runs),) if runs else (), **kw).with_token()
    studio = Studio(settings, cwd=cwd or data)
    return TestClient(create_app(settings, studio), base_url=BASE), studio


def wait(client, job: str, timeout: float = 120) -> dict:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        j = client.get(f"/api/jobs/{job}").json()
        if j["status"] in ("done", "failed", "stopped", "rejected"):
            return j
        time.sleep(0.1)
    raise AssertionError(f"job {job} did not finish in {timeout} s")


def bad(r, status: int, field: str | None = None) -> str:
    assert r.status_code == status, (r.status_code, r.text)
    body = r.json()
    assert body["error"] and "Traceback" not in body["error"]
    if field is not None:
        assert body["field"] == field, body
    return body["error"]


@pytest.fixture(scope="module")
def studio_dirs(tmp_path_factory, debug_run):
    root = tmp_path_factory.mktemp("studio")
    return root / "data", debug_run.parent


@pytest.fixture(scope="module")
def client(studio_dirs):
    data, runs = studio_dirs
    c, studio = make_client(data, runs)
    with c:
        c.studio = studio
        yield c


@pytest.fixture(scope="module")
def debug_id(client) -> str:
    models = client.get("/api/models").json()["models"]
    return next(m["id"] for m in models if m["source"] == "run" and m["label"] == "debug")


@pytest.fixture(scope="module")
def composed(client, debug_id) -> list[dict]:
    """Two tunes of the debug model, composed through the API (SSE followed to the end)."""
    r = client.post("/api/compose", json={"model": debug_id, "options": {
        "num": 2, "seed": 5, "primer": PRIMER, "max_len": 200}})
    assert r.status_code == 202, r.text
    job = r.json()["job"]
    events = []
    with client.stream("GET", f"/api/jobs/{job}/events") as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        for line in stream.iter_lines():
            if line.startswith("event: "):
                events.append(line[7:])
    assert events[0] == "status" and events[-1] == "done", events
    assert events.count("piece") == 2
    done = client.get(f"/api/jobs/{job}").json()
    assert done["status"] == "done"
    return [client.get(f"/api/compositions/{i}").json() for i in done["result"]["pieces"]]


# --- pages, models, forms ------------------------------------------------------------------

def test_the_page_lists_the_models_and_the_form_of_the_first(client, debug_id):
    r = client.get("/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    html = r.text
    for label in ("folk-abc-small", "bach-events-small", "bach-pianoroll-small", "debug"):
        assert label in html
    assert 'data-field="temperature"' in html and "/static/abcjs-basic-min.js" in html
    assert "default-src 'self'" in r.headers["content-security-policy"]
    assert r.headers["x-content-type-options"] == "nosniff"
    js = client.get("/static/abcjs-basic-min.js")
    assert js.status_code == 200 and b"abcjs" in js.content[:300]
    assert client.get("/static/abcjs-LICENSE.md").status_code == 200
    assert client.get("/static/studio.js").status_code == 200


def test_health_says_the_database_is_wal_and_migrated(client):
    h = client.get("/api/health").json()
    assert h["ok"] and h["journal"] == "wal" and h["schema"] == 2


def test_models_show_family_corpus_size_and_validation_figures(client, debug_id):
    models = {m["id"]: m for m in client.get("/api/models").json()["models"]}
    assert {"shipped-abc", "shipped-events", "shipped-pianoroll", debug_id} <= set(models)
    abc = models["shipped-abc"]
    assert abc["family"] == "abc" and abc["corpus"] == "folk-abc"
    shipped = json.loads((pretrained_dir("abc") / "tunesmith.json").read_text())
    bits = shipped["summary"]["best_valid"]["bits"]  # what the checkpoint says of itself
    assert abc["params"] > 1_000_000 and abc["figures"]["bits"] == pytest.approx(bits, abs=1e-3)
    dbg = models[debug_id]
    assert dbg["source"] == "run" and dbg["family"] == "abc" and dbg["step"] == 30
    assert client.get(f"/api/models/{debug_id}").json()["report"] is False
    bad(client.get("/api/models/nope"), 404)


def test_the_form_is_what_the_family_declares(client, debug_id):
    from tunesmith import families
    from tunesmith.families.base import ALWAYS

    for model, family in (("shipped-abc", "abc"), ("shipped-events", "events"),
                          ("shipped-pianoroll", "pianoroll")):
        fields = {f["name"]: f for f in client.get(f"/api/models/{model}/form").json()["fields"]}
        controls = set(families.get(family).controls) | ALWAYS
        if family == "pianoroll":  # the shipped RNN-NADE draws no Gibbs samples
            assert "gibbs_steps" not in fields
            controls.discard("gibbs_steps")
        elif family == "events":  # no lookback in the events family: nothing to tilt towards
            assert "repeat_bias" not in fields
            controls.discard("repeat_bias")
        else:  # the shipped ABC model is told no tune length (train --ends): no --bars
            assert "bars" not in fields
            controls.discard("bars")
        assert set(fields) == controls, family
        assert all(f["help"] for f in fields.values())
    events = {f["name"]: f for f in client.get("/api/models/shipped-events/form").json()["fields"]}
    assert events["temperature"]["kind"] == "heads"
    assert events["temperature"]["heads"] == ["note", "velocity", "time"]
    assert events["primer"]["kind"] == "primer_piece"
    shipped_abc = {f["name"]: f for f in
                   client.get("/api/models/shipped-abc/form").json()["fields"]}
    assert shipped_abc["repeat_bias"]["kind"] == "float"  # the shipped ABC model reads one
    abc = {f["name"]: f for f in client.get(f"/api/models/{debug_id}/form").json()["fields"]}
    assert "repeat_bias" not in abc  # a debug model reads no lookback
    assert abc["primer"]["kind"] == "primer_text" and abc["temperature"]["kind"] == "float"
    assert abc["max_len"]["placeholder"] == "1500"
    roll = {f["name"]: f for f in client.get("/api/models/shipped-pianoroll/form").json()["fields"]}
    assert roll["mode"]["kind"] == "choice" and roll["mode"]["choices"] == ["sample", "argmax"]
    assert roll["repeat_bias"]["kind"] == "float" and roll["repeat_bias"]["placeholder"] == "4.0"
    remi = {f["name"]: f for f in client.get("/api/models/shipped-remi/form").json()["fields"]}
    assert remi["repeat_bias"]["placeholder"] == "1.0"  # the shipped REMI model reads a lookback
    html = client.get("/fragments/form/shipped-events").text
    assert 'data-head="velocity"' in html
    bad(client.get("/api/models/nope/form"), 404)
    bad(client.get("/fragments/form/nope"), 404)


def test_a_gibbs_model_gets_the_gibbs_steps_control():
    from tunesmith import families, models
    from tunesmith.studio.catalog import form_fields

    fam = families.get("pianoroll")
    names = [f.name for f in form_fields(fam, models.registry()["rnn_rbm"], {"frame": 88}, 8)]
    assert "gibbs_steps" in names and "temperature" not in names


# --- compose -------------------------------------------------------------------------------

def test_composing_streams_pieces_into_the_gallery_with_their_files(client, composed):
    from tunesmith.io.midi import read_midi_bytes

    assert len(composed) == 2
    for c in composed:
        assert c["model_label"] == "debug" and c["family"] == "abc" and c["options"]["seed"] == 5
        if not c["valid"]:
            continue
        assert {"abc", "mid", "wav", "png", "svg"} <= set(c["kinds"])
        wav = client.get(f"/api/compositions/{c['id']}/files/wav")
        assert wav.status_code == 200 and wav.content[:4] == b"RIFF"
        assert wav.headers["content-type"] == "audio/wav"
        svg = client.get(f"/api/compositions/{c['id']}/files/svg")
        assert svg.headers["content-type"].startswith("image/svg+xml")
        assert b"<svg" in svg.content and "sandbox" in svg.headers["content-security-policy"]
        mid = client.get(f"/api/compositions/{c['id']}/files/mid?download=true")
        assert "attachment" in mid.headers["content-disposition"]
        assert read_midi_bytes(mid.content).notes
        abc = client.get(f"/api/compositions/{c['id']}/files/abc").text
        assert abc == c["text"] and PRIMER in abc
    assert any(c["valid"] for c in composed)
    card = client.get(f"/fragments/composition/{composed[0]['id']}").text
    assert composed[0]["title"] in card and "data-id" in card


@pytest.mark.parametrize("body, status, field", [
    ({"model": "nope"}, 400, "model"),
    ({"options": {}}, 400, "model"),
    ({"model": "shipped-abc", "options": {"mode": "argmax"}}, 400, "mode"),
    ({"model": "shipped-abc", "options": {"bogus": 1}}, 400, "bogus"),
    ({"model": "shipped-abc", "options": {"num": "two"}}, 400, "num"),
    ({"model": "shipped-abc", "options": {"num": 0}}, 400, "num"),
    ({"model": "shipped-abc", "options": {"num": 10_000}}, 400, "num"),
    ({"model": "shipped-abc", "options": {"temperature": -1}}, 400, "temperature"),
    ({"model": "shipped-abc", "options": {"top_p": 3}}, 400, "top_p"),
    ({"model": "shipped-abc", "options": {"seed": -4}}, 400, "seed"),
    ({"model": "shipped-abc", "options": {"max_len": 10**9}}, 400, "max_len"),
    ({"model": "shipped-events", "options": {"temperature": {"pitch": 0.9}}}, 400,
     "temperature"),
    ({"model": "shipped-events", "options": {"temperature": [1, 2]}}, 400, "temperature"),
    ({"model": "shipped-events", "options": {"primer": "/etc/passwd"}}, 400, "primer"),
    ({"model": "shipped-events", "primer_upload": "0123456789abcdef"}, 400, "primer_upload"),
    ({"model": "shipped-events", "primer_upload": "../../etc/passwd"}, 400, "primer_upload"),
    ({"model": "shipped-abc", "primer_upload": "0123456789abcdef"}, 400, "primer_upload"),
    ({"model": "shipped-abc", "options": [], }, 400, "options"),
    ({"model": "shipped-abc", "path": "/tmp"}, 400, "path"),
    ({"model": "shipped-abc", "options": {"primer": "M:4/4\nK:C\n" + "C" * 3000}}, 400,
     "primer"),  # longer than the tune may be
    ({"model": "shipped-abc", "options": {"primer": "/etc/passwd"}}, 400, "primer"),
    ({"model": "shipped-continue", "options": {"style": "x" * 10_000}}, 400, "style"),
    ({"model": ["shipped-abc"]}, 400, "model"),
])
def test_bad_compose_requests_are_400s_naming_the_field(client, body, status, field):
    bad(client.post("/api/compose", json=body), status, field)


def test_malformed_bodies_are_refused(client):
    bad(client.post("/api/compose", content=b"{not json", headers={
        "content-type": "application/json"}), 400)
    bad(client.post("/api/compose", content=b"[1, 2]", headers={
        "content-type": "application/json"}), 400)
    bad(client.post("/api/compose", content=b"model=x", headers={
        "content-type": "application/x-www-form-urlencoded"}), 400)
    bad(client.post("/api/compose", content=b"[" * 100_000 + b"]" * 100_000, headers={
        "content-type": "application/json"}), 400)
    big = json.dumps({"model": "shipped-abc", "options": {"primer": "x" * 400_000}})
    bad(client.post("/api/compose", content=big, headers={
        "content-type": "application/json"}), 413)
    bad(client.post("/api/compose", json={"model": "shipped-abc"},
                    headers={"origin": "http://evil.example"}), 403)
    bad(client.post("/api/compose", json={"model": "shipped-abc"},
                    headers={"origin": "null"}), 403)
    bad(client.get("/", headers={"host": "rebound.example:8000"}), 400)


def test_a_full_queue_answers_429_and_a_crashed_job_fails_alone(tmp_path, debug_run,
                                                                  monkeypatch):
    import threading

    from tunesmith.studio import composer

    gate = threading.Event()
    real = composer.compose

    def slow(studio, plan, job):
        gate.wait(30)
        if plan.options.seed == 13:
            raise RuntimeError("a bug in a job")
        return real(studio, plan, job)

    monkeypatch.setattr(composer, "compose", slow)
    c, studio = make_client(tmp_path / "data", debug_run.parent, workers=1, queue=1)
    with c:
        model = next(m["id"] for m in c.get("/api/models").json()["models"]
                     if m["label"] == "debug")
        body = {"model": model, "options": {"num": 1, "seed": 13, "max_len": 50}}
        first = c.post("/api/compose", json=body).json()["job"]
        second = c.post("/api/compose", json=body | {"options": {
            "num": 1, "seed": 5, "primer": PRIMER, "max_len": 120}}).json()["job"]
        r = c.post("/api/compose", json=body)
        bad(r, 429)
        assert r.headers["retry-after"] == "2"
        gate.set()
        crashed = wait(c, first)
        assert crashed["status"] == "failed" and "RuntimeError: a bug in a job" in crashed["error"]
        assert wait(c, second)["status"] == "done"  # the lane went on
        assert c.get("/api/health").json()["ok"]
        assert studio.store.job(first)["status"] == "failed"


def test_a_compose_job_stops_when_asked_and_keeps_what_it_finished(client, debug_id):
    r = client.post("/api/compose", json={"model": "shipped-events", "options": {
        "num": 2, "seed": 1, "seconds": 400}})  # minutes of sampling, unless stopped
    assert r.status_code == 202, r.text
    job = r.json()["job"]
    end = time.monotonic() + 60
    while client.get(f"/api/jobs/{job}").json()["events"] < 3 and time.monotonic() < end:
        time.sleep(0.05)  # running, and the sampler has reported
    r = client.post(f"/api/jobs/{job}/stop")
    assert r.status_code == 202, r.text
    stopped = wait(client, job)
    assert stopped["status"] == "stopped", stopped
    assert "0 pieces kept" in stopped["error"] and stopped["result"]["pieces"] == []
    assert client.post(f"/api/jobs/{job}/stop").json()["status"] == "stopped"  # again: as is
    bad(client.post("/api/jobs/not-a-job/stop"), 404)
    finished = client.post("/api/compose", json={"model": debug_id, "options": {
        "num": 1, "seed": 5, "primer": PRIMER, "max_len": 60}}).json()["job"]
    assert wait(client, finished)["status"] == "done"
    assert client.post(f"/api/jobs/{finished}/stop").json()["status"] == "done"


def test_a_stop_after_the_sampling_keeps_every_piece_it_sampled(client, monkeypatch):
    from tunesmith.studio import composer

    real = composer.write_piece

    def writing(studio, p, job_id, c):
        studio.board.get(job_id).ask_stop()  # the click comes while the pieces are written
        return real(studio, p, job_id, c)

    monkeypatch.setattr(composer, "write_piece", writing)
    r = client.post("/api/compose", json={"model": "shipped-pianoroll", "options": {
        "num": 2, "seed": 1, "max_len": 16}})
    assert r.status_code == 202, r.text
    job = wait(client, r.json()["job"])
    assert job["status"] == "stopped" and "2 pieces kept" in job["error"], job
    assert len(job["result"]["pieces"]) == 2


def test_title_numbers_are_never_given_twice(client, debug_id):
    def compose_one() -> dict:
        r = client.post("/api/compose", json={"model": debug_id, "options": {
            "num": 1, "seed": 5, "primer": PRIMER, "max_len": 60}})
        job = wait(client, r.json()["job"])
        return client.get(f"/api/compositions/{job['result']['pieces'][0]}").json()

    first = compose_one()
    assert client.delete(f"/api/compositions/{first['id']}").status_code == 204
    second = compose_one()  # the gallery holds one piece fewer: its count would repeat
    assert first["title"] != second["title"]
    store = client.studio.store
    assert store.next_number() + 1 == store.next_number()  # two jobs at once


def test_a_queued_job_that_is_stopped_never_runs():
    import threading

    from tunesmith.studio.jobs import Job, Lane

    lane, gate, ran = Lane("compose", workers=1, queue=2), threading.Event(), []
    first = lane.submit(Job("a", "compose"), lambda j: gate.wait(30) and None)
    second = lane.submit(Job("b", "compose"), lambda j: ran.append(j.id))
    second.ask_stop()
    assert second.status == "stopped" and second.error == "stopped before it began"
    gate.set()
    lane.shutdown(wait=True)
    assert first.status == "done" and second.status == "stopped" and ran == []


# --- uploads -------------------------------------------------------------------------------

def midi_bytes(tmp_path: Path) -> bytes:
    from tunesmith.io.midi import write_midi
    from tunesmith.music import Note, Piece, Track

    notes = [Note(i * 0.5, i * 0.5 + 0.5, 60 + (i * 5) % 12) for i in range(40)]
    return write_midi(Piece(tracks=[Track(notes=notes)]), tmp_path / "p.mid").read_bytes()


def test_a_shipped_abc_tune_comes_with_its_musicxml(client):
    from music21 import converter

    r = client.post("/api/compose", json={"model": "shipped-abc", "options": {
        "num": 1, "seed": 1}})
    assert r.status_code == 202, r.text
    job = wait(client, r.json()["job"])
    assert job["status"] == "done", job
    piece = client.get(f"/api/compositions/{job['result']['pieces'][0]}").json()
    assert {"abc", "mid", "svg", "musicxml"} <= set(piece["kinds"]), piece
    xml = client.get(f"/api/compositions/{piece['id']}/files/musicxml?download=true")
    assert xml.status_code == 200 and "musicxml" in xml.headers["content-type"]
    abc = client.get(f"/api/compositions/{piece['id']}/files/abc").text
    notes = converter.parseData(xml.text, format="musicxml").flatten().notes
    assert len(notes) == len(converter.parseData(abc, format="abc").flatten().notes) > 10


def test_an_uploaded_midi_file_primes_the_events_model(client, tmp_path):
    data = midi_bytes(tmp_path)
    r = client.post("/api/uploads", files={"file": ("my tune.mid", data, "audio/midi")})
    assert r.status_code == 201, r.text
    up = r.json()
    assert up["format"] == "MIDI" and up["notes"] == 40 and up["name"] == "my tune.mid"
    assert up["title"] == "my tune.mid"  # not the server's id for its copy
    r = client.post("/api/compose", json={"model": "shipped-events", "primer_upload": up["id"],
                                          "options": {"num": 1, "seed": 2, "max_len": 60,
                                                      "primer_len": 12,
                                                      "temperature": {"note": 0.9}}})
    assert r.status_code == 202, r.text
    job = wait(client, r.json()["job"])
    assert job["status"] == "done", job
    piece = client.get(f"/api/compositions/{job['result']['pieces'][0]}").json()
    assert piece["options"]["primer"] == "file"  # no server path in the gallery
    assert {"mid", "wav", "png", "svg", "musicxml"} <= set(piece["kinds"]), piece


def test_a_primer_error_names_the_upload_not_the_servers_copy(client, tmp_path, monkeypatch):
    from tunesmith import app
    from tunesmith.errors import TunesmithError

    up = client.post("/api/uploads", files={"file": ("mine.mid", midi_bytes(tmp_path),
                                                     "audio/midi")}).json()

    def refuse(ckpt, opts, **kw):  # as a reader refuses a primer: naming the file it read
        raise TunesmithError("primer is shorter than 4 bars", opts.primer)

    monkeypatch.setattr(app, "compose", refuse)
    r = client.post("/api/compose", json={"model": "shipped-events", "primer_upload": up["id"],
                                          "options": {"num": 1, "max_len": 20}})
    job = wait(client, r.json()["job"])
    assert job["status"] == "failed" and "the uploaded primer: primer is shorter" in str(job)
    assert str(client.studio.data) not in str(job)


def test_a_composition_without_a_seed_records_the_seed_it_was_drawn_with(client, debug_id):
    r = client.post("/api/compose", json={"model": debug_id, "options": {
        "num": 1, "primer": PRIMER, "max_len": 60}})
    assert r.status_code == 202, r.text
    job = wait(client, r.json()["job"])
    assert job["status"] == "done", job
    piece = client.get(f"/api/compositions/{job['result']['pieces'][0]}").json()
    assert isinstance(piece["options"]["seed"], int)


def test_a_primer_the_model_cannot_read_is_a_400_naming_the_upload(client, tmp_path):
    up = client.post("/api/uploads", files={"file": ("mine.mid", midi_bytes(tmp_path),
                                                     "audio/midi")}).json()
    # the continue model continues ABC tunes: a MIDI file is refused at once
    message = bad(client.post("/api/compose", json={"model": "shipped-continue",
                                                    "primer_upload": up["id"]}), 400)
    assert message == "the uploaded primer: not an ABC file (binary data)"
    message = bad(client.post("/api/compose", json={"model": "shipped-events",
                                                    "primer_upload": up["id"],
                                                    "options": {"primer": "corpus"}}),
                  400, "primer")
    assert message == "primer and primer_upload cannot both be given: give one"


def test_an_uploaded_abc_tune_gives_a_text_primer(client):
    tune = b"X:1\nT:Upload\nM:6/8\nL:1/8\nK:G\n|:GAB cde|dcB A2G:|\n"
    up = client.post("/api/uploads", files={"file": ("t.abc", tune, "text/plain")}).json()
    assert up["format"] == "ABC" and up["primer_text"].startswith("M:6/8\nL:1/8\nK:G\n")


@pytest.mark.parametrize("name, data, status, says", [
    ("picture.mid", b"\x89PNG\r\n\x1a\n" + b"\0" * 100, 415, "not a MIDI, MusicXML or ABC"),
    ("notes.txt", b"just some words\n", 415, "not a MIDI, MusicXML or ABC"),
    ("empty.mid", b"", 400, "empty"),
    ("broken.mid", b"MThd\x00\x00\x00\x06\x00\x01\x00\x05\x01\xe0MTrk\xff\xff", 400,
     "broken.mid"),
    ("nokey.abc", b"X:1\nT:no key\n", 400, "nokey.abc"),
    ("silent.mid", b"MThd\x00\x00\x00\x06\x00\x00\x00\x01\x01\xe0"
     b"MTrk\x00\x00\x00\x04\x00\xff\x2f\x00", 422, "silent.mid: no notes on the piano keys"),
    ("../../etc/passwd", b"X:1\nT:t\nL:1/8\nK:C\nCDEF GABc|\n", 201, ""),
])
def test_uploads_are_checked_by_content_and_read_by_the_cli_reader(client, name, data,
                                                                    status, says):
    r = client.post("/api/uploads", files={"file": (name, data, "application/octet-stream")})
    if status == 201:
        assert r.status_code == 201 and r.json()["name"] == "passwd"
        return
    message = bad(r, status, "file")
    assert says in message
    assert str(client.studio.data) not in message  # the server's paths stay on the server


def test_uploads_over_the_limit_or_not_multipart_are_refused(client):
    big = b"MThd" + b"\0" * (5 * 1024 * 1024 + 10)
    error = bad(client.post("/api/uploads", files={"file": ("big.mid", big, "audio/midi")}),
                413)
    assert "upload limit of 5 MB" in error, error  # in the MB the studio was given
    huge = b"MThd" + b"\0" * (6 * 1024 * 1024)
    error = bad(client.post("/api/uploads", files={"file": ("huge.mid", huge, "audio/midi")}),
                413)
    assert "upload limit of 5 MB" in error, error
    bad(client.post("/api/uploads", content=b"MThd", headers={
        "content-type": "audio/midi"}), 415)
    bad(client.post("/api/uploads", data={"other": "x"}, files={
        "nofile": ("a.mid", b"MThd", "audio/midi")}), 400, "file")
    bad(client.post("/api/uploads", content=b"--x\r\ngarbage", headers={
        "content-type": "multipart/form-data; boundary=x"}), 400)


# --- the gallery ---------------------------------------------------------------------------

def test_star_rename_search_and_delete(client, composed):
    a, b = composed
    r = client.patch(f"/api/compositions/{a['id']}", json={"starred": True, "title": "  Jig  "
                                                                                     "for Ann "})
    assert r.status_code == 200 and r.json()["starred"] and r.json()["title"] == "Jig for Ann"
    found = client.get("/api/compositions", params={"starred": "true"}).json()
    assert [c["id"] for c in found["compositions"]] == [a["id"]]
    assert client.get("/api/compositions", params={"q": "jig for"}).json()["total"] == 1
    assert client.get("/api/compositions", params={"q": "100%_"}).json()["total"] == 0
    mine = client.get("/api/compositions", params={"model": a["model_id"]}).json()
    assert {a["id"], b["id"]} <= {c["id"] for c in mine["compositions"]}
    today = time.strftime("%Y-%m-%d")
    assert client.get("/api/compositions", params={"since": today}).json()["total"] >= 2
    assert client.get("/api/compositions", params={"until": "2001-01-01"}).json()["total"] == 0
    abc = client.get("/api/compositions", params={"family": "abc", "limit": 1}).json()
    assert len(abc["compositions"]) == 1 and abc["compositions"][0]["family"] == "abc"
    html = client.get("/fragments/gallery", params={"starred": "true"}).text
    assert "Jig for Ann" in html and "★" in html
    html = client.get("/fragments/gallery", params={"until": "2001-01-01"}).text
    assert "No piece matches these filters" in html and "compose something" not in html
    for body, field in (({"title": ""}, "title"), ({"title": 3}, "title"),
                        ({"title": "x" * 201}, "title"), ({"title": "a\x00b"}, "title"),
                        ({"starred": "yes"}, "starred"),
                        ({"model_id": "x"}, "model_id")):
        bad(client.patch(f"/api/compositions/{a['id']}", json=body), 400, field)
    bad(client.patch("/api/compositions/0123456789abcdef", json={"starred": True}), 404)
    r = client.delete(f"/api/compositions/{b['id']}")
    assert r.status_code == 204
    assert not client.studio.store.folder_of(b["id"]).exists()
    bad(client.delete(f"/api/compositions/{b['id']}"), 404)
    bad(client.get(f"/api/compositions/{b['id']}/files/wav"), 404)


def test_a_title_in_any_script_names_the_downloaded_file(client, debug_id):
    r = client.post("/api/compose", json={"model": debug_id, "options": {
        "num": 1, "seed": 5, "primer": PRIMER, "max_len": 60}})
    (cid,) = wait(client, r.json()["job"])["result"]["pieces"]
    r = client.patch(f"/api/compositions/{cid}", json={"title": "Minuet für Klasse 3b!"})
    assert r.status_code == 200, r.text
    mid = client.get(f"/api/compositions/{cid}/files/mid?download=true")
    assert quote("Minuet_für_Klasse_3b.mid") in mid.headers["content-disposition"]


@pytest.mark.parametrize("params, field", [
    ({"starred": "maybe"}, "starred"), ({"since": "yesterday"}, "since"),
    ({"until": "2024-13-45"}, "until"), ({"until": "0001-01-01"}, "until"),
    ({"since": "0001-01-01"}, "since"), ({"limit": "0"}, "limit"), ({"limit": "x"}, "limit"),
    ({"offset": "-1"}, "offset"), ({"sort": "title"}, "sort"),
])
def test_bad_gallery_filters_are_400s(client, params, field):
    bad(client.get("/api/compositions", params=params), 400, field)
    bad(client.get("/fragments/gallery", params=params), 400, field)


@pytest.mark.parametrize("path", [
    "/api/compositions/..%2F..%2Fstudio.sqlite3/files/wav",
    "/api/compositions/../../etc/passwd",
    "/api/compositions/0123456789abcdef/files/wav",
    "/api/compositions/%2e%2e/files/mid",
    "/static/../studio.sqlite3",
    "/static/%2e%2e/%2e%2e/server.py",
    "/api/jobs/0123456789abcdef",
    "/api/jobs/..%2F/events",
    "/fragments/composition/nope",
    "/api/runs/run-000000000000/metrics",
    "/api/models/shipped-abc/report",
    "/api/nothing-here",
])
def test_unknown_ids_and_path_tricks_are_404s(client, path):
    r = client.get(path)
    assert r.status_code == 404, (path, r.status_code, r.text[:200])


def test_a_file_kind_that_is_not_one_is_404(client, composed):
    cid = composed[0]["id"]
    for kind in ("sqlite3", "..%2Fcomposition.json", "json"):
        assert client.get(f"/api/compositions/{cid}/files/{kind}").status_code == 404


def test_the_gallery_is_kept_across_restarts(client, composed, studio_dirs):
    data, runs = studio_dirs
    c2, studio2 = make_client(data, runs)
    with c2:
        again = c2.get(f"/api/compositions/{composed[0]['id']}").json()
        assert again["title"] == "Jig for Ann" and again["starred"] is True
        assert c2.get(f"/api/compositions/{composed[0]['id']}/files/mid").status_code == 200


# --- the database --------------------------------------------------------------------------

def test_an_old_database_is_migrated_and_a_newer_one_refused(tmp_path):
    from tunesmith.errors import TunesmithError
    from tunesmith.studio.store import DB_NAME, MIGRATIONS, Query, Store

    old = tmp_path / "old"
    old.mkdir()
    db = sqlite3.connect(old / DB_NAME)
    db.executescript(MIGRATIONS[0])
    db.execute("INSERT INTO compositions (id, job_id, idx, title, model_id, model_label, "
               "family, created, valid) VALUES ('0123456789abcdef', 'j', 1, 'Old tune', 'm', "
               "'m', 'abc', 1.0, 1)")
    db.execute("INSERT INTO jobs (id, kind, status, created) VALUES ('aaaaaaaaaaaaaaaa', "
               "'compose', 'running', 1.0)")
    db.execute("PRAGMA user_version = 1")
    db.commit()
    db.close()
    store = Store(old)
    assert store.version == len(MIGRATIONS) == 2 and store.journal_mode() == "wal"
    (row,), total = store.search(Query())
    assert total == 1 and row.title == "Old tune" and row.source == "compose"
    assert store.abandon_unfinished() == 1
    assert store.job("aaaaaaaaaaaaaaaa")["status"] == "failed"
    store.close()
    db = sqlite3.connect(old / DB_NAME)
    db.execute("PRAGMA user_version = 99")
    db.commit()
    db.close()
    with pytest.raises(TunesmithError, match="newer tunesmith"):
        Store(old)


# --- the token, the host -------------------------------------------------------------------

def test_off_loopback_every_request_needs_the_token(tmp_path):
    settings = StudioSettings(host="0.0.0.0", data_dir=str(tmp_path / "d")).with_token()
    assert settings.needs_token and len(settings.token) >= 20
    with TestClient(create_app(settings, Studio(settings, cwd=tmp_path)),
                    base_url="http://studio.lan:8000") as c:
        bad(c.get("/"), 401)
        bad(c.get("/api/models"), 401)
        bad(c.get("/api/models", headers={"authorization": "Bearer wrong-token-x"}), 401)
        assert c.get("/api/models", headers={
            "authorization": f"Bearer {settings.token}"}).status_code == 200
        r = c.get(f"/?token={settings.token}")
        assert r.status_code == 200 and "HttpOnly" in r.headers["set-cookie"]
        assert c.get("/api/health").status_code == 200  # the cookie from now on
        assert c.get("/static/studio.css").status_code == 200


def test_a_given_token_is_required_on_loopback_too(tmp_path):
    settings = StudioSettings(token="s3cret-token", data_dir=str(tmp_path / "d"))
    with TestClient(create_app(settings, Studio(settings, cwd=tmp_path)), base_url=BASE) as c:
        bad(c.get("/api/health"), 401)
        assert c.get("/api/health", headers={"x-tunesmith-token": "s3cret-token"}).json()["ok"]


def test_settings_are_checked():
    from tunesmith.errors import OptionError

    for kw, field in (({"port": 70000}, "port"), ({"workers": 0}, "workers"),
                      ({"queue": -1}, "queue"), ({"max_upload_mb": 0}, "max_upload_mb"),
                      ({"token": "short"}, "token")):
        with pytest.raises(OptionError) as e:
            StudioSettings(**kw)
        assert e.value.option == field
    assert StudioSettings().loopback and not StudioSettings().needs_token
    assert StudioSettings(host="::1").loopback and not StudioSettings(host="::").loopback


def test_the_data_folder_follows_xdg(monkeypatch, tmp_path):
    from tunesmith.studio.config import default_data_dir

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert default_data_dir() == tmp_path / "tunesmith" / "studio"
    monkeypatch.delenv("XDG_DATA_HOME")
    assert default_data_dir() == Path.home() / ".local" / "share" / "tunesmith" / "studio"


# --- training ------------------------------------------------------------------------------

def test_train_stop_resume_with_live_curves_and_samples(tmp_path, abc_corpus):
    empty = tmp_path / "empty"
    empty.mkdir()
    settings = StudioSettings(data_dir=str(tmp_path / "data"),
                              corpus_dirs=(str(abc_corpus), str(empty)))
    c = TestClient(create_app(settings, Studio(settings, cwd=tmp_path)), base_url=BASE)
    with c:
        c.studio = c.app.state.studio
        corpora = {x["id"]: x for x in c.get("/api/corpora").json()["corpora"]}
        assert {"folk-abc", "bach-chorales", "dir-0", "dir-1"} <= set(corpora)
        for body, field in (({"corpus": "/etc"}, "corpus"), ({"family": "jazz"}, "family"),
                            ({"preset": "huge"}, "preset"), ({"steps": -1}, "steps"),
                            ({"steps": "ten"}, "steps"), ({"out": "/tmp/x"}, "out"),
                            ({"arch": "rnn_rbm"}, "arch")):
            bad(c.post("/api/train", json={"corpus": "dir-0", "preset": "debug"} | body), 400,
                field)
        # a built-in corpus of the other kind is refused now, not in the run's first minute
        for family in ("abc", "continue"):
            assert (f"bach-chorales holds MIDI and MusicXML pieces; the {family} family learns "
                    "from ABC tunes") in bad(c.post("/api/train", json={
                        "corpus": "bach-chorales", "family": family, "preset": "debug"}),
                        400, "corpus")
        r = c.post("/api/train", json={"corpus": "dir-0", "family": "abc", "preset": "debug",
                                       "steps": 2000, "name": "mine"})
        assert r.status_code == 202, r.text
        job, run = r.json()["job"], r.json()["run"]
        bad(c.post("/api/train", json={"corpus": "dir-0", "preset": "debug"}), 409)
        step, end = 0, time.monotonic() + 90
        while not step and time.monotonic() < end:  # wait until it is really training
            rows = c.get(f"/api/runs/{run}/metrics").json()["rows"]
            step = max([x["step"] for x in rows], default=0)
            time.sleep(0.1)
        assert step and all("loss" in x for x in rows)
        assert c.post(f"/api/train/{job}/stop").status_code == 202
        stopped = wait(c, job, 90)
        assert stopped["status"] == "stopped", stopped
        bad(c.post("/api/train/0123456789abcdef/stop"), 404)
        runs = {x["id"]: x for x in c.get("/api/runs").json()["runs"]}
        assert runs[run]["name"] == "mine" and runs[run]["can_resume"]
        assert step <= runs[run]["step"] < 2000
        bad(c.post("/api/train/resume", json={"run": "run-nothing"}), 400, "run")
        bad(c.post("/api/train/resume", json={"run": run, "steps": 0}), 400, "steps")
        until = max(20, runs[run]["step"] + 5)  # past a validation: a best checkpoint
        r = c.post("/api/train/resume", json={"run": run, "steps": until})
        assert r.status_code == 202, r.text
        job2 = r.json()["job"]
        kinds, samples = [], []
        with c.stream("GET", f"/api/jobs/{job2}/events") as stream:
            for line in stream.iter_lines():
                if line.startswith("event: "):
                    kinds.append(line[7:])
                elif line.startswith("data: ") and kinds[-1] == "sample":
                    samples.append(json.loads(line[6:]))
        # a run ends with a piece from its best checkpoint, told before its end
        assert kinds[-1] == "done" and "progress" in kinds and "sample" in kinds, kinds
        assert c.get(f"/api/jobs/{job2}").json()["result"]["step"] == until
        for steps in (until - 1, until):  # nothing to do: refused now, not a failed job
            error = bad(c.post("/api/train/resume", json={"run": run, "steps": steps}), 400,
                        "steps")
            assert "is already at step" in error
        models = c.get("/api/models").json()["models"]
        mine = next(m["id"] for m in models if m["label"] == "mine" and m["source"] == "run")
        pieces = c.get("/api/compositions", params={"model": mine}).json()["compositions"]
        told = {x["id"]: x for x in pieces}[samples[-1]["id"]]
        assert told["title"] == f"mine at step {samples[-1]['step']}"
        # a job that cannot train fails with the trainer's one line; the studio goes on
        r = c.post("/api/train", json={"corpus": "dir-1", "family": "abc", "preset": "debug"})
        failed = wait(c, r.json()["job"], 90)
        assert failed["status"] == "failed" and failed["error"], failed
        assert "Traceback" not in failed["error"]
        assert c.get("/api/train").json()["history"][0]["status"] == "failed"
        assert c.get("/api/health").json()["ok"]


# --- evaluation ----------------------------------------------------------------------------

def test_evaluate_and_the_musical_report(client, debug_id):
    for body, field in (({"model": "nope"}, "model"), ({"model": debug_id, "kind": "x"}, "kind"),
                        ({"model": debug_id, "num": 0}, "num"), ({"model": debug_id,
                                                                  "x": 1}, "x")):
        bad(client.post("/api/evaluate", json=body), 400, field)
    r = client.post("/api/evaluate", json={"model": debug_id, "kind": "likelihood", "num": 2})
    result = wait(client, r.json()["job"])
    assert result["status"] == "done", result
    assert {"valid", "test"} <= set(result["result"]["results"])
    r = client.post("/api/evaluate", json={"model": debug_id, "kind": "music", "num": 3})
    result = wait(client, r.json()["job"], 180)
    assert result["status"] == "done", result
    report = client.get(f"/api/models/{debug_id}/report")
    assert report.status_code == 200 and "<html" in report.text.lower()
    assert "tunesmith music report: debug" in report.text  # its name, not the server's path
    assert "sandbox" in report.headers["content-security-policy"]
    assert client.get(f"/api/models/{debug_id}").json()["report"] is True


# --- the command, the package --------------------------------------------------------------

def test_tunesmith_studio_prints_its_address_and_serves(tmp_path):
    import httpx

    proc = subprocess.Popen([sys.executable, "-m", "tunesmith", "studio", "--port", "0",
                             "--data-dir", str(tmp_path / "d")], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    try:
        line = proc.stdout.readline().strip()
        assert line.startswith("tunesmith studio: http://127.0.0.1:"), line
        url = line.split(": ", 1)[1]
        assert httpx.get(url + "api/health", timeout=30).json()["ok"]
    finally:
        proc.terminate()
        proc.wait(30)


def test_a_bad_setting_or_a_busy_port_is_one_line(tmp_path, capsys):
    import socket

    from tunesmith.cli import main

    assert main(["studio", "--port", "70000"]) == 2
    assert "port must be between" in capsys.readouterr().err
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        assert main(["studio", "--port", str(port), "--data-dir", str(tmp_path)]) == 2
    assert "cannot listen on 127.0.0.1" in capsys.readouterr().err


def test_importing_the_studio_is_light_and_it_never_sees_the_cli():
    code = ("import sys, tunesmith.studio, tunesmith.studio.config; print(sorted(m for m in "
            "('torch', 'fastapi', 'music21', 'verovio') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "[]", out.stderr
    import tunesmith.studio

    for path in Path(tunesmith.studio.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([node.module or ""] if isinstance(node, ast.ImportFrom) else
                     [a.name for a in node.names] if isinstance(node, ast.Import) else [])
            assert not any(n.startswith("tunesmith.cli") or n == "argparse" for n in names), path


def test_log_lines_tell_the_page_no_server_paths():
    from tunesmith.studio.jobs import no_paths

    assert no_paths("skipped: /usr/lib/python3/site-packages/music21/corpus/a/book1.abc#58 "
                    "(X:59 'T')") == "skipped: book1.abc#58 (X:59 'T')"
    assert no_paths("report: /srv/data/reports/shipped-gan/report.html") == "report: report.html"
    assert no_paths("M:6/8 L:1/8 d/e/ 3/4 of a bar") == "M:6/8 L:1/8 d/e/ 3/4 of a bar"


def test_a_writer_file_is_known_by_its_suffix_or_what_it_adds_to_the_stem():
    from tunesmith.studio.composer import file_kind

    assert [file_kind(n) for n in ("tune_01.mid", "piece_12.png", "piece_12_attention.png",
                                   "tune_01.attention.png")] == ["mid", "png", "attention",
                                                                  "attention"]


@pytest.mark.parametrize("family", ["continue-events", "continue-remi"])
def test_a_midi_continue_run_continues_an_uploaded_piece_in_a_style(tmp_path, styled_folder,
                                                                    request, family):
    run = request.getfixturevalue({"continue-events": "events_run",
                                   "continue-remi": "remi_run"}[family])
    c, _ = make_client(tmp_path / "data", run.parent)
    with c:
        model = next(m for m in c.get("/api/models").json()["models"]
                     if m["source"] == "run" and m["family"] == family)
        data = (styled_folder / "waltz" / "w1.mid").read_bytes()
        up = c.post("/api/uploads", files={"file": ("w1.mid", data, "audio/midi")}).json()
        r = c.post("/api/compose", json={"model": model["id"], "primer_upload": up["id"],
                                         "options": {"num": 1, "seed": 1, "bars": 2,
                                                     "style": "march"}})
        assert r.status_code == 202, r.text
        job = wait(c, r.json()["job"])
        assert job["status"] == "done", job
        piece = c.get(f"/api/compositions/{job['result']['pieces'][0]}").json()
        assert {"mid", "png"} <= set(piece["kinds"]), piece
        bad(c.post("/api/compose", json={"model": model["id"], "primer_upload": up["id"],
                                         "options": {"style": "jazz"}}), 400, "style")
