"""Load check of `tunesmith studio`, on loopback only, bounded in count and time.

    python benchmarks/studio_load.py                    # 200 composes at 8, 1,000 bad requests
    python benchmarks/studio_load.py --requests 40 --malformed 200   # a quick look

It starts the studio itself (``python -m tunesmith studio --port 0`` on 127.0.0.1, a fresh
data folder), then:

1. **composes**: ``--requests`` compose requests from ``--concurrency`` clients at once,
   taking turns over the three shipped small models (one short piece each: an ABC tune
   of the folk model, 10 s of the events model, 48 frames of the piano-roll model). Each
   client submits, follows its job to the end, and submits the next. A 429 (queue full)
   is counted and retried after its Retry-After. Latency = submit to the job's end.
2. **malformed**: ``--malformed`` bad requests at the same concurrency: bad JSON, wrong
   types, unknown options and ids, bodies over the limits, uploads of the wrong type and
   too large, path tricks, a foreign Origin, bad filters, wrong methods. Each must be a
   4xx.
3. **lost entries**: every piece a finished job reported must be in the gallery (paged
   through the API) with its MIDI, before and after a restart of the server on the same
   data folder.

It prints p50 / p95 latencies, throughput, the status counts, the count of 5xx (target 0)
and of lost gallery entries (target 0), and writes them as JSON with ``--out``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

MODELS = [("shipped-abc", {"num": 1, "max_len": 600}),
          ("shipped-events", {"num": 1, "seconds": 10}),
          ("shipped-pianoroll", {"num": 1, "max_len": 48})]
FINAL = ("done", "failed", "stopped", "rejected")


class Server:
    """The studio in a child process, on 127.0.0.1 and a free port."""

    def __init__(self, data: Path, workers: int, queue: int):
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tunesmith", "studio", "--host", "127.0.0.1", "--port", "0",
             "--data-dir", str(data), "--workers", str(workers), "--queue", str(queue)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=str(data.parent))
        line = self.proc.stdout.readline().strip()
        if not line.startswith("tunesmith studio: http://127.0.0.1:"):
            self.stop()
            raise SystemExit(f"the studio did not start: {line!r} {self.proc.stderr.read()}")
        self.url = line.split(": ", 1)[1].rstrip("/")
        threading.Thread(target=self.proc.stdout.read, daemon=True).start()
        self.errors: list[str] = []
        threading.Thread(target=self._stderr, daemon=True).start()

    def _stderr(self) -> None:
        for line in self.proc.stderr:
            self.errors.append(line.rstrip())

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    k = (len(values) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (k - lo)


# --- 1. composes ---------------------------------------------------------------------------

def compose_load(url: str, n: int, concurrency: int, deadline: float) -> dict:
    statuses: Counter = Counter()
    latencies: list[float] = []
    pieces: list[str] = []
    outcomes: Counter = Counter()
    lock = threading.Lock()
    limits = httpx.Timeout(60.0)

    def one(i: int) -> None:
        model, options = MODELS[i % len(MODELS)]
        body = {"model": model, "options": options | {"seed": i}}
        with httpx.Client(base_url=url, timeout=limits) as client:
            t0 = time.perf_counter()
            while True:
                r = client.post("/api/compose", json=body)
                with lock:
                    statuses[r.status_code] += 1
                if r.status_code != 429 or time.monotonic() > deadline:
                    break
                time.sleep(float(r.headers.get("retry-after", "1")))
            if r.status_code != 202:
                with lock:
                    outcomes[f"refused {r.status_code}"] += 1
                return
            job = r.json()["job"]
            while time.monotonic() < deadline:
                j = client.get(f"/api/jobs/{job}")
                with lock:
                    statuses[j.status_code] += 1
                state = j.json()
                if state.get("status") in FINAL:
                    break
                time.sleep(0.05)
            else:
                with lock:
                    outcomes["timed out"] += 1
                return
            took = time.perf_counter() - t0
            with lock:
                outcomes[state["status"]] += 1
                if state["status"] == "done":
                    latencies.append(took)
                    pieces.extend(state["result"].get("pieces", []))

    t0 = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(one, range(n)))
    wall = time.perf_counter() - t0
    return {"requests": n, "concurrency": concurrency, "wall_s": wall,
            "latency_p50_s": pct(latencies, 50), "latency_p95_s": pct(latencies, 95),
            "latency_max_s": max(latencies, default=float("nan")),
            "throughput_jobs_per_s": len(latencies) / wall, "outcomes": dict(outcomes),
            "statuses": dict(statuses), "pieces": pieces}


# --- 2. malformed requests -----------------------------------------------------------------

def malformed(i: int, known: str) -> tuple[str, str, dict]:
    """The i-th bad request: (method, path, httpx keyword arguments)."""
    junk = bytes((i * 7919 + k * 31) % 256 for k in range(2048))
    j = {"content-type": "application/json"}
    cases = [
        ("POST", "/api/compose", {"content": b"{not json", "headers": j}),
        ("POST", "/api/compose", {"content": b"[1,2,3]", "headers": j}),
        ("POST", "/api/compose", {"json": {"model": 12345}}),
        ("POST", "/api/compose", {"json": {"model": "shipped-abc", "options": {"num": "x"}}}),
        ("POST", "/api/compose", {"json": {"model": "shipped-abc",
                                           "options": {"temperature": "hot"}}}),
        ("POST", "/api/compose", {"json": {"model": "no-such-model"}}),
        ("POST", "/api/compose", {"json": {"model": "shipped-abc", "options": {"nope": 1}}}),
        ("POST", "/api/compose", {"json": {"model": "shipped-events",
                                           "options": {"primer": "/etc/passwd"}}}),
        ("POST", "/api/compose", {"json": {"model": "shipped-events",
                                           "primer_upload": "../../../etc/passwd"}}),
        ("POST", "/api/compose", {"content": b"{" + b'"a":' * 10 + b"1" + b"}" * 10,
                                  "headers": j}),
        ("POST", "/api/compose", {"content": json.dumps({"model": "x" * 300_000}),
                                  "headers": j}),
        ("POST", "/api/compose", {"content": b"model=shipped-abc", "headers": {
            "content-type": "application/x-www-form-urlencoded"}}),
        ("POST", "/api/compose", {"json": {"model": "shipped-abc"},
                                  "headers": {"origin": "http://evil.example"}}),
        ("POST", "/api/uploads", {"files": {"file": ("x.mid", junk, "audio/midi")}}),
        ("POST", "/api/uploads", {"files": {"file": ("x.png", b"\x89PNG\r\n\x1a\n" + junk,
                                                     "image/png")}}),
        ("POST", "/api/uploads", {"files": {"file": ("x.mid", b"MThd\0\0\0\6" + junk,
                                                     "audio/midi")}}),
        ("POST", "/api/uploads", {"files": {"file": ("x.abc", b"X:1\nT:no key\n", "text/plain")}}),
        ("POST", "/api/uploads", {"files": {"file": ("empty.mid", b"", "audio/midi")}}),
        ("POST", "/api/uploads", {"content": junk, "headers": {"content-type": "audio/midi"}}),
        ("POST", "/api/uploads", {"content": b"--b\r\nnonsense", "headers": {
            "content-type": "multipart/form-data; boundary=b"}}),
        ("GET", "/api/compositions/0123456789abcdef", {}),
        ("GET", "/api/compositions/..%2F..%2Fetc%2Fpasswd/files/wav", {}),
        ("GET", f"/api/compositions/{known}/files/..%2F..%2Fstudio.sqlite3", {}),
        ("GET", f"/api/compositions/{known}/files/exe", {}),
        ("GET", "/static/../../../../etc/passwd", {}),
        ("GET", "/static/%2e%2e/%2e%2e/studio.sqlite3", {}),
        ("GET", "/fragments/composition/%2e%2e%2f%2e%2e", {}),
        ("GET", "/api/jobs/ffffffffffffffff", {}),
        ("GET", "/api/jobs/ffffffffffffffff/events", {}),
        ("GET", "/api/models/../../etc/form", {}),
        ("GET", "/api/runs/run-nothing/metrics", {}),
        ("GET", "/api/compositions?starred=perhaps", {}),
        ("GET", "/api/compositions?since=tomorrow", {}),
        ("GET", "/api/compositions?limit=100000", {}),
        ("PATCH", f"/api/compositions/{known}", {"json": {"title": 42}}),
        ("PATCH", f"/api/compositions/{known}", {"json": {"starred": "yes"}}),
        ("PATCH", "/api/compositions/0123456789abcdef", {"json": {"starred": True}}),
        ("DELETE", "/api/compositions/0123456789abcdef", {}),
        ("POST", "/api/train", {"json": {"corpus": "/etc", "preset": "debug"}}),
        ("POST", "/api/train", {"json": {"family": "jazz"}}),
        ("POST", "/api/train/resume", {"json": {"run": "../runs/x"}}),
        ("POST", "/api/train/ffffffffffffffff/stop", {}),
        ("POST", "/api/evaluate", {"json": {"model": "nope"}}),
        ("PUT", "/api/compose", {"json": {}}),
    ]
    if i % 50 == 0:  # a huge upload now and then (the body is refused by its length)
        return "POST", "/api/uploads", {"files": {"file": ("big.mid", b"MThd" + b"\0" * (
            6 * 1024 * 1024), "audio/midi")}}
    return cases[i % len(cases)]


def malformed_load(url: str, n: int, concurrency: int, known: str) -> dict:
    statuses: Counter = Counter()
    latencies: list[float] = []
    fives: list[str] = []
    lock = threading.Lock()

    def one(i: int) -> None:
        method, path, kw = malformed(i, known)
        with httpx.Client(base_url=url, timeout=60.0) as client:
            t0 = time.perf_counter()
            try:
                r = client.request(method, path, **kw)
                code = r.status_code
            except httpx.TransportError as e:  # the server closed on a refused body
                code, r = f"closed ({type(e).__name__})", None
            took = time.perf_counter() - t0
        with lock:
            statuses[code] += 1
            latencies.append(took)
            if isinstance(code, int) and code >= 500:
                fives.append(f"{method} {path}: {code} {r.text[:200]}")

    t0 = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(one, range(n)))
    wall = time.perf_counter() - t0
    codes = [c for c in statuses if isinstance(c, int)]
    return {"requests": n, "wall_s": wall, "latency_p50_ms": 1000 * pct(latencies, 50),
            "latency_p95_ms": 1000 * pct(latencies, 95),
            "statuses": {str(k): v for k, v in sorted(statuses.items(), key=str)},
            "5xx": sum(statuses[c] for c in codes if c >= 500),
            "2xx": sum(statuses[c] for c in codes if 200 <= c < 300), "5xx_examples": fives[:5]}


# --- 3. lost entries -----------------------------------------------------------------------

def gallery_ids(url: str) -> set[str]:
    out: set[str] = set()
    with httpx.Client(base_url=url, timeout=60.0) as client:
        offset = 0
        while True:
            page = client.get("/api/compositions", params={"limit": 200, "offset": offset}).json()
            out |= {c["id"] for c in page["compositions"]}
            offset += 200
            if offset >= page["total"]:
                return out


def missing_files(url: str, ids: list[str]) -> int:
    with httpx.Client(base_url=url, timeout=60.0) as client:
        return sum(client.get(f"/api/compositions/{i}/files/mid").status_code != 200
                   for i in ids)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--requests", type=int, default=200)
    p.add_argument("--concurrency", type=int, default=8)
    p.add_argument("--malformed", type=int, default=1000)
    p.add_argument("--workers", type=int, default=2, help="the studio's compose workers")
    p.add_argument("--queue", type=int, default=16, help="the studio's compose queue")
    p.add_argument("--minutes", type=float, default=20, help="give up after this long")
    p.add_argument("--out", help="write the figures as JSON here")
    args = p.parse_args()
    if not (0 < args.requests <= 2000 and 0 < args.concurrency <= 64
            and 0 <= args.malformed <= 20000):
        p.error("keep it bounded: requests <= 2000, concurrency <= 64, malformed <= 20000")
    deadline = time.monotonic() + args.minutes * 60
    with tempfile.TemporaryDirectory(prefix="studio-load-") as tmp:
        data = Path(tmp) / "data"
        server = Server(data, args.workers, args.queue)
        try:
            print(f"studio at {server.url} (data {data})", flush=True)
            with httpx.Client(base_url=server.url, timeout=120.0) as client:
                for model, options in MODELS:  # load each model once before measuring
                    job = client.post("/api/compose", json={"model": model, "options": options
                                                            | {"seed": 0}}).json()["job"]
                    while client.get(f"/api/jobs/{job}").json()["status"] not in FINAL:
                        time.sleep(0.1)
            warm = gallery_ids(server.url)
            comp = compose_load(server.url, args.requests, args.concurrency, deadline)
            print(f"composes: {comp['outcomes']} in {comp['wall_s']:.1f} s", flush=True)
            known = comp["pieces"][0] if comp["pieces"] else "0123456789abcdef"
            bad = malformed_load(server.url, args.malformed, args.concurrency, known)
            health = httpx.get(server.url + "/api/health", timeout=30).json()
            expected = set(comp["pieces"]) | warm
            lost_live = len(expected - gallery_ids(server.url))
        finally:
            server.stop()
        tracebacks = sum("Traceback" in line for line in server.errors)
        server = Server(data, args.workers, args.queue)
        try:
            after = gallery_ids(server.url)
            lost_restart = len(expected - after)
            files_gone = missing_files(server.url, sorted(expected & after))
        finally:
            server.stop()
    comp_5xx = sum(v for k, v in comp["statuses"].items() if k >= 500)
    report = {"compose": {k: v for k, v in comp.items() if k != "pieces"},
              "pieces": len(comp["pieces"]), "malformed": bad,
              "lost_gallery_entries": lost_live, "lost_after_restart": lost_restart,
              "missing_midi_after_restart": files_gone, "compose_5xx": comp_5xx,
              "server_ok_after": bool(health.get("ok")),
              "server_tracebacks": tracebacks}
    c, m = report["compose"], report["malformed"]
    lines = [
        f"compose   {c['requests']} requests at concurrency {c['concurrency']}: "
        f"{c['outcomes']}",
        f"          latency p50 {c['latency_p50_s']:.2f} s, p95 {c['latency_p95_s']:.2f} s, "
        f"max {c['latency_max_s']:.2f} s",
        f"          throughput {c['throughput_jobs_per_s']:.2f} jobs/s ({report['pieces']} "
        f"pieces in {c['wall_s']:.1f} s); 429s {c['statuses'].get(429, 0)}; 5xx {comp_5xx}",
        f"malformed {m['requests']} requests: {m['statuses']}",
        f"          latency p50 {m['latency_p50_ms']:.1f} ms, p95 {m['latency_p95_ms']:.1f} ms;"
        f" 5xx {m['5xx']}; 2xx {m['2xx']}",
        f"gallery   lost entries {lost_live}; lost after a restart {lost_restart}; MIDI "
        f"missing after a restart {files_gone}",
        f"server    healthy after the load: {report['server_ok_after']}; tracebacks in its "
        f"log: {tracebacks}",
    ]
    print("\n" + "\n".join(lines))
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=2, default=str) + "\n")
    ok = comp_5xx == 0 and m["5xx"] == 0 and lost_live == 0 and lost_restart == 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
