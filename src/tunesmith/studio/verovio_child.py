"""Engrave one score with Verovio in a fresh interpreter: run as a script (never
imported by the server), it reads ``{"data", "kind", "options"}`` as JSON on stdin and
writes ``{"pages": [svg, ...]}`` or ``{"error": "..."}`` as JSON on stdout.

The studio runs it with :mod:`subprocess` (:func:`tunesmith.studio.engrave._verovio`)
instead of forking itself: a fork of the threaded server copies whatever lock another
thread held at that moment, and now and then a forked Verovio deadlocked (a score "took
longer than 20 s" on a busy machine) or crashed in ``loadData``. A fresh interpreter
inherits no threads and no locks; it imports nothing of tunesmith (about 0.2 s to start).
"""

import json
import signal
import sys
from pathlib import Path

# run as a script, its folder comes first on sys.path: none of the studio's modules
# (config, jobs, store ...) may stand in for a library's of the same name
if sys.path and Path(sys.path[0] or ".").resolve() == Path(__file__).resolve().parent:
    del sys.path[0]


def main() -> None:
    request = json.loads(sys.stdin.read())
    # a deadline of its own, should the server that waits for it be gone
    signal.alarm(int(request.get("seconds", 60)) + 5)
    try:
        import verovio
    except ImportError:
        json.dump({"error": "Verovio is not installed"}, sys.stdout)
        return
    verovio.enableLog(verovio.LOG_OFF)  # its warnings say nothing a user can act on
    tk = verovio.toolkit(False)
    tk.setResourcePath(str(Path(verovio.__file__).resolve().parent / "data"))
    tk.setOptions(request["options"] | {"inputFrom": request["kind"]})
    if not tk.loadData(request["data"]):
        json.dump({"error": f"Verovio could not read the {request['kind'].upper()}"},
                  sys.stdout)
        return
    json.dump({"pages": [tk.renderToSVG(p) for p in range(1, tk.getPageCount() + 1)]},
              sys.stdout)


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # noqa: BLE001 - one line back to the server, not a traceback
        text = str(e).strip().splitlines()
        json.dump({"error": f"Verovio failed ({text[0][:200] if text else type(e).__name__})"},
                  sys.stdout)
