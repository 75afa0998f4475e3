"""tunesmith studio: compose, listen, look and train from a web page.

``tunesmith studio`` serves it (uvicorn) and prints its address; it opens nothing by
itself. The studio is a front end on the application layer (:mod:`tunesmith.app`), as
the CLI is; it never calls the CLI or argparse.

- :mod:`~tunesmith.studio.config`: the settings (``--host``, ``--port``, ``--data-dir``,
  ...) and the data folder;
- :mod:`~tunesmith.studio.service`: the state (gallery, models, lanes of work, jobs);
- :mod:`~tunesmith.studio.server`: HTTP (FastAPI), pages, the guard;
- :mod:`~tunesmith.studio.store`: the SQLite gallery; :mod:`~tunesmith.studio.catalog`:
  models, corpora and the compose form; :mod:`~tunesmith.studio.composer`: compose jobs;
  :mod:`~tunesmith.studio.training`: the training process; :mod:`~tunesmith.studio.engrave`:
  sheet music; :mod:`~tunesmith.studio.uploads`: primer files.

Importing this package imports nothing heavy (no web framework, no torch).
"""

from __future__ import annotations

import socket

from tunesmith.errors import TunesmithError
from tunesmith.studio.config import StudioSettings

EXTRAS = "pip install 'tunesmith[studio]'"


def missing_extras() -> list[str]:
    """The studio's packages that are not installed."""
    from importlib.util import find_spec

    return [name for name in ("fastapi", "uvicorn", "jinja2", "multipart")
            if find_spec(name) is None]


def serve(settings: StudioSettings, say=print) -> None:
    """Serve the studio until interrupted; ``say`` hears its address (and token)."""
    missing = missing_extras()
    if missing:
        raise TunesmithError(f"the studio needs {', '.join(missing)}: {EXTRAS}")
    import uvicorn

    from tunesmith.studio.server import create_app

    settings = settings.with_token()
    sock = bind(settings.host, settings.port)
    port = sock.getsockname()[1]
    app = create_app(settings)
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    url = f"http://{host}:{port}/"
    if settings.needs_token:
        url += f"?token={settings.token}"
    say(f"tunesmith studio: {url}")
    say(f"data: {settings.data_path()}")
    if not settings.loopback:
        say("listening beyond this machine: every request needs the token above")
    config = uvicorn.Config(app, log_level="warning", access_log=False,
                            timeout_graceful_shutdown=5)
    server = uvicorn.Server(config)
    server.run(sockets=[sock])


def bind(host: str, port: int) -> socket.socket:
    """A listening socket, or a one-line error (a port in use, an address not here)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(128)
    except OSError as e:
        sock.close()
        raise TunesmithError(f"cannot listen on {host}:{port} ({e.strerror or e})") from None
    sock.set_inheritable(True)
    return sock


__all__ = ["StudioSettings", "bind", "missing_extras", "serve"]
