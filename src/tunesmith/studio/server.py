"""The studio's HTTP side: FastAPI routes over :class:`~tunesmith.studio.service.Studio`,
server-rendered pages (Jinja2) with a little vanilla JavaScript, Server-Sent Events for
job progress, static files from the package (abcjs included: nothing from a CDN).

Safe by default (:class:`Guard`, an ASGI middleware in front of everything):

- on loopback, a request must name a loopback host (``Host``), which defeats DNS
  rebinding; off loopback every request needs the token (``Authorization: Bearer``, an
  ``X-Tunesmith-Token`` header, the cookie the page gets, or ``?token=`` once);
- a state-changing request from another origin (``Origin`` that is not this server) is
  refused, so another web site cannot drive the studio through the user's browser;
- bodies are bounded (uploads by ``--max-upload-mb``, everything else by 256 KB) before
  and while they are read;
- every bad request is a 4xx with ``{"error": "...", "field": ...}``: unknown ids are 404,
  a full queue is 429, a second training job 409; a request never names a path.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import re
import time
from contextlib import asynccontextmanager
from datetime import datetime
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import StreamingResponse

from tunesmith.errors import OptionError, TunesmithError
from tunesmith.studio.config import StudioSettings
from tunesmith.studio.jobs import Busy
from tunesmith.studio.service import Studio
from tunesmith.studio.store import NotFound, Query, valid_id
from tunesmith.studio.training import Busy409
from tunesmith.studio.uploads import UploadError

HERE = Path(__file__).resolve().parent
STATIC = HERE / "static"
TEMPLATES = HERE / "templates"
COOKIE = "tunesmith_token"
JSON_LIMIT = 256 * 1024
KINDS = {"abc": "text/plain; charset=utf-8", "mid": "audio/midi", "wav": "audio/wav",
         "png": "image/png", "attention": "image/png", "svg": "image/svg+xml",
         "musicxml": "application/vnd.recordare.musicxml+xml"}
PAGE_CSP = ("default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; "
            "style-src 'self' 'unsafe-inline'; script-src 'self'; connect-src 'self'; "
            "frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
FILE_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; sandbox"


class BodyTooLarge(Exception):
    def __init__(self, limit: int, upload_mb: float | None = None):
        self.limit = limit
        super().__init__(_too_large(limit, upload_mb))


def _too_large(limit: int, upload_mb: float | None) -> str:
    """What a refused body is told: an upload, in the MB the studio was given
    (``max_upload_mb``); any other request, in bytes."""
    if upload_mb is not None:
        return f"the file is over the studio's upload limit of {upload_mb:g} MB (max_upload_mb)"
    return f"the request body is over the limit of {limit:,} bytes"


# --- the guard -----------------------------------------------------------------------------

class Guard:
    """Host, token, origin and body-size checks, and security headers (module doc)."""

    def __init__(self, app, settings: StudioSettings, hosts: tuple[str, ...] | None):
        self.app = app
        self.token = settings.token if settings.needs_token else None
        self.upload_limit = settings.max_upload_bytes + 64 * 1024  # and the form around it
        self.upload_mb = settings.max_upload_mb
        self.hosts = hosts

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1")
                   for k, v in scope.get("headers", [])}
        host = headers.get("host", "")
        if self.hosts is not None and _hostname(host) not in self.hosts:
            return await _plain(send, 400, "unexpected Host header: the studio answers "
                                "only to its own loopback address")
        set_cookie = None
        if self.token:
            query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
            given = _token_from(headers, query)
            if given is None or not hmac.compare_digest(given.encode(), self.token.encode()):
                return await _plain(send, 401, "a token is required: open the address "
                                    "`tunesmith studio` printed (it ends in ?token=...)")
            if query.get("token"):
                set_cookie = self.token
        method = scope.get("method", "GET")
        if method not in ("GET", "HEAD", "OPTIONS"):
            origin = headers.get("origin")
            if origin is not None and (origin == "null" or urlsplit(origin).netloc != host):
                return await _plain(send, 403, "cross-origin requests are refused")
        uploading = scope["path"] == "/api/uploads"
        limit = self.upload_limit if uploading else JSON_LIMIT
        mb = self.upload_mb if uploading else None
        length = headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > limit):
            return await _plain(send, 413, _too_large(limit, mb))
        seen = 0

        async def counted():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge(limit, mb)
            return message

        async def sending(message):
            if message["type"] == "http.response.start":
                extra = [(b"x-content-type-options", b"nosniff"),
                         (b"referrer-policy", b"no-referrer"),
                         (b"x-frame-options", b"DENY")]
                names = {k.lower() for k, _ in message.get("headers", [])}
                if b"content-security-policy" not in names:
                    extra.append((b"content-security-policy", PAGE_CSP.encode()))
                if set_cookie:
                    extra.append((b"set-cookie", f"{COOKIE}={set_cookie}; HttpOnly; "
                                  "SameSite=Strict; Path=/".encode()))
                message = dict(message, headers=list(message.get("headers", [])) + extra)
            await send(message)

        return await self.app(scope, counted, sending)


def _hostname(host: str) -> str:
    if host.startswith("["):
        return host[: host.find("]") + 1] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _token_from(headers: dict, query: dict) -> str | None:
    auth = headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    if headers.get("x-tunesmith-token"):
        return headers["x-tunesmith-token"]
    if query.get("token"):
        return query["token"][0]
    cookie = headers.get("cookie")
    if cookie:
        jar = SimpleCookie()
        try:
            jar.load(cookie)
        except Exception:  # noqa: BLE001 - a malformed cookie header is no token
            return None
        if COOKIE in jar:
            return jar[COOKIE].value
    return None


async def _plain(send, status: int, message: str) -> None:
    body = json.dumps({"error": message, "field": None}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()),
                            (b"x-content-type-options", b"nosniff")]})
    await send({"type": "http.response.body", "body": body})


# --- the app -------------------------------------------------------------------------------

def error(status: int, message: str, field: str | None = None, **headers) -> JSONResponse:
    return JSONResponse({"error": message, "field": field}, status_code=status,
                        headers=headers or None)


def create_app(settings: StudioSettings, studio: Studio | None = None,
               hosts: tuple[str, ...] | None = None) -> FastAPI:
    """The studio's ASGI app. ``hosts``: the ``Host`` names it answers to (default: the
    loopback names when it listens on loopback, any otherwise: the token guards it)."""
    settings = settings.with_token()
    studio = studio or Studio(settings)
    if hosts is None and settings.loopback:
        hosts = ("127.0.0.1", "localhost", "[::1]", "::1", settings.host)

    @asynccontextmanager
    async def lifespan(_app):
        yield
        await run_in_threadpool(studio.close)

    app = FastAPI(title="tunesmith studio", docs_url=None, redoc_url=None,
                  openapi_url=None, lifespan=lifespan)
    app.state.studio = studio
    app.state.settings = settings
    app.mount("/static", StaticFiles(directory=str(STATIC)), name="static")
    _error_handlers(app)
    _pages(app, studio, settings)
    _model_routes(app, studio)
    _job_routes(app, studio, settings)
    _gallery_routes(app, studio)
    _training_routes(app, studio)
    app.add_middleware(Guard, settings=settings, hosts=hosts)
    return app


def _error_handlers(app: FastAPI) -> None:
    """Every error as one line of JSON, ``{"error", "field"}``."""
    @app.exception_handler(OptionError)
    async def _option(_r, e: OptionError):
        return error(400, str(e), e.option or None)

    @app.exception_handler(UploadError)
    async def _upload(_r, e: UploadError):
        return error(e.status, str(e), "file")

    @app.exception_handler(Busy409)
    async def _conflict(_r, e):
        return error(409, str(e))

    @app.exception_handler(TunesmithError)
    async def _tunesmith(_r, e):
        return error(400, str(e))

    @app.exception_handler(Busy)
    async def _busy(_r, e):
        return error(429, str(e), **{"Retry-After": "2"})

    @app.exception_handler(NotFound)
    async def _missing(_r, e):
        return error(404, f"not found: {e.args[0] if e.args else e}"[:200])

    @app.exception_handler(BodyTooLarge)
    async def _large(_r, e):
        return error(413, str(e))

    @app.exception_handler(RequestValidationError)
    async def _invalid(_r, e: RequestValidationError):
        first = e.errors()[0] if e.errors() else {}
        where = ".".join(str(x) for x in first.get("loc", ())[1:])
        return error(400, f"{where or 'request'}: {first.get('msg', 'invalid')}",
                     where or None)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_r, e: StarletteHTTPException):
        return error(e.status_code, str(e.detail))

    @app.exception_handler(Exception)
    async def _crash(_r, e: Exception):  # a bug: still one line, never a traceback page
        return error(500, f"internal error ({type(e).__name__})")


def _pages(app: FastAPI, studio: Studio, settings: StudioSettings) -> None:
    """The HTML page and the fragments htmx swaps into it."""
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    env = Environment(loader=FileSystemLoader(str(TEMPLATES)),
                      autoescape=select_autoescape(["html"]))
    env.filters["when"] = lambda t: datetime.fromtimestamp(t).strftime("%Y-%m-%d %H:%M")
    env.filters["number"] = _number

    def render(name: str, **context) -> str:
        return env.get_template(name).render(settings=settings, **context)

    @app.get("/", response_class=HTMLResponse)
    def index(request: Request):
        models = [m for m in studio.catalog.models()]
        usable = [m for m in models if not m.error]
        first = usable[0] if usable else None
        form = _form(studio, first) if first else []
        comps, total = studio.store.search(Query(limit=24))
        return HTMLResponse(render(
            "index.html", models=models, first=first, form=form, comps=comps, total=total,
            facets=studio.store.facets(), corpora=studio.catalog.corpora(),
            trainables=_trainables(), runs=studio.training.runs(),
            training=studio.board.latest("train"), engrave=studio.engrave,
            composing=studio.board.running("compose")))

    @app.get("/fragments/form/{model_id}", response_class=HTMLResponse)
    def form_fragment(model_id: str):
        entry = studio.catalog.model(model_id)
        return HTMLResponse(render("form.html", form=_form(studio, entry), model=entry))

    @app.get("/fragments/gallery", response_class=HTMLResponse)
    def gallery_fragment(request: Request):
        q = _query(request)
        comps, total = studio.store.search(q)
        return HTMLResponse(render("gallery.html", comps=comps, total=total, query=q,
                                   filtered=q.filtered))

    @app.get("/fragments/composition/{comp_id}", response_class=HTMLResponse)
    def card_fragment(comp_id: str):
        c = studio.store.get(comp_id)
        if c is None:
            raise NotFound(f"composition {comp_id[:40]!r}")
        return HTMLResponse(render("card.html", c=c))


def _model_routes(app: FastAPI, studio: Studio) -> None:
    """Health, the models and their forms and reports, the corpora."""
    @app.get("/api/health")
    def health():
        return {"ok": True, "compose_load": studio.compose_lane.load,
                "compose_capacity": studio.compose_lane.capacity,
                "compositions": studio.store.count(), "schema": studio.store.version,
                "journal": studio.store.journal_mode(), "engraving": studio.engrave}

    @app.get("/api/models")
    def models_list():
        return {"models": [m.to_json() for m in studio.catalog.models()]}

    @app.get("/api/models/{model_id}")
    def model_one(model_id: str):
        entry = next((m for m in studio.catalog.models() if m.id == model_id), None)
        if entry is None:
            raise NotFound(f"model {model_id[:40]!r}")
        out = entry.to_json()
        out["report"] = studio.report_path(model_id) is not None
        return out

    @app.get("/api/models/{model_id}/form")
    def model_form(model_id: str):
        entry = studio.catalog.model(model_id)
        return {"model": entry.id, "fields": [f.to_json() for f in _form(studio, entry)]}

    @app.get("/api/models/{model_id}/report")
    def model_report(model_id: str):
        path = studio.report_path(model_id)
        if path is None:
            raise NotFound(f"no musical report for {model_id[:40]!r} yet")
        return FileResponse(path, media_type="text/html",
                            headers={"Content-Security-Policy": FILE_CSP})

    @app.get("/api/corpora")
    def corpora():
        return {"corpora": [c.to_json() for c in studio.catalog.corpora()],
                "families": _trainables()}


def _job_routes(app: FastAPI, studio: Studio, settings: StudioSettings) -> None:
    """Uploads, compose requests and the jobs that run them."""
    @app.post("/api/uploads", status_code=201)
    async def upload(request: Request):
        ctype = request.headers.get("content-type", "")
        if not ctype.startswith("multipart/form-data"):
            return error(415, "upload a file as multipart/form-data (field 'file')", "file")
        try:
            form = await request.form(max_files=1, max_fields=4)
        except BodyTooLarge:
            raise
        except Exception:  # noqa: BLE001 - a malformed multipart body is a bad request
            return error(400, "malformed multipart/form-data body", "file")
        try:
            item = form.get("file")
            if item is None or isinstance(item, str):
                return error(400, "no file in the upload (field 'file')", "file")
            data = await item.read(settings.max_upload_bytes + 1)
            name = item.filename
        finally:
            await form.close()
        up = await run_in_threadpool(studio.uploads.add, data, name)
        return up.to_json()

    @app.post("/api/compose", status_code=202)
    async def compose(request: Request):
        body = await _json(request)
        job = await run_in_threadpool(studio.compose, body)
        return {"job": job.id, "events": f"/api/jobs/{job.id}/events"}

    @app.post("/api/jobs/{job_id}/stop", status_code=202)
    def stop_job(job_id: str):
        return studio.stop_compose(job_id).to_json()

    @app.get("/api/jobs/{job_id}")
    def job_status(job_id: str):
        job = studio.board.get(job_id)
        if job is not None:
            return job.to_json()
        row = studio.store.job(job_id)
        if row is None:
            raise NotFound(f"job {job_id[:40]!r}")
        return {"id": row["id"], "kind": row["kind"], "status": row["status"],
                "error": row["error"], "result": row["result"], "created": row["created"]}

    @app.get("/api/jobs/{job_id}/events")
    async def job_events(job_id: str, request: Request):
        job = studio.board.get(job_id)
        if job is None:
            raise NotFound(f"job {job_id[:40]!r} (events are kept while the studio runs)")
        start = request.headers.get("last-event-id", "0")
        seen = int(start) if start.isdigit() else 0
        return StreamingResponse(_events(job, seen, request), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache",
                                          "X-Accel-Buffering": "no"})


def _gallery_routes(app: FastAPI, studio: Studio) -> None:
    """The compositions: search, read, edit, delete, their files."""
    @app.get("/api/compositions")
    def compositions(request: Request):
        q = _query(request)
        comps, total = studio.store.search(q)
        return {"total": total, "compositions": [c.to_json() for c in comps],
                "facets": studio.store.facets()}

    @app.get("/api/compositions/{comp_id}")
    def composition(comp_id: str):
        return _composition(studio, comp_id).to_json()

    @app.patch("/api/compositions/{comp_id}")
    async def update(comp_id: str, request: Request):
        body = await _json(request)
        _composition(studio, comp_id)
        unknown = set(body) - {"title", "starred"}
        if unknown:
            raise OptionError(sorted(unknown)[0], "cannot be changed (title, starred)")
        title, starred = body.get("title"), body.get("starred")
        if title is not None:
            if not isinstance(title, str) or not title.strip():
                raise OptionError("title", "must be some text")
            title = " ".join(title.split())
            if any(ord(ch) < 32 or ord(ch) == 127 for ch in title):
                raise OptionError("title", "must not hold control characters")
            if len(title) > 200:
                raise OptionError("title", "must be at most 200 characters")
        if starred is not None and not isinstance(starred, bool):
            raise OptionError("starred", "must be true or false")
        c = await run_in_threadpool(studio.store.update, comp_id, title=title,
                                    starred=starred)
        return c.to_json()

    @app.delete("/api/compositions/{comp_id}", status_code=204)
    def delete(comp_id: str):
        _composition(studio, comp_id)
        studio.store.delete(comp_id)
        return Response(status_code=204)

    @app.get("/api/compositions/{comp_id}/files/{kind}")
    def file(comp_id: str, kind: str, download: bool = False):
        c = _composition(studio, comp_id)
        if kind not in KINDS:
            raise NotFound(f"file kind {kind[:20]!r} (one of {', '.join(KINDS)})")
        name = c.files.get(kind)
        if not name:
            raise NotFound(f"this composition has no .{kind} file")
        path = studio.store.folder_of(c.id) / Path(name).name
        if not path.is_file():
            raise NotFound(f"this composition's .{kind} file is gone")
        # letters of any script stay ("Minuet für Klasse 3b" -> Minuet_für_Klasse_3b.mid;
        # the header then carries filename*=utf-8''...); anything else becomes "_"
        stem = re.sub(r"[^\w.-]+", "_", c.title).strip("_.") or "tunesmith"
        suffix = Path(name).suffix.lstrip(".")
        extra = "" if suffix == kind else f"_{kind}"
        return FileResponse(path, media_type=KINDS[kind],
                            filename=f"{stem}{extra}.{suffix}" if download else None,
                            content_disposition_type="attachment" if download else "inline",
                            headers={"Content-Security-Policy": FILE_CSP,
                                     "Cache-Control": "private, max-age=3600"})


def _training_routes(app: FastAPI, studio: Studio) -> None:
    """Training runs, their metrics, start / resume / stop, and evaluation."""
    @app.get("/api/runs")
    def runs():
        return {"runs": studio.training.runs()}

    @app.get("/api/runs/{run_id}/metrics")
    def run_metrics(run_id: str):
        return {"run": run_id, "rows": studio.training.metrics(run_id)}

    @app.get("/api/train")
    def train_state():
        job = studio.board.latest("train")
        return {"job": job.to_json() if job else None,
                "history": studio.store.jobs("train", 10)}

    @app.post("/api/train", status_code=202)
    async def train(request: Request):
        body = await _json(request)
        job = await run_in_threadpool(studio.training.start, body)
        return {"job": job.id, "run": job.about.get("run"),
                "events": f"/api/jobs/{job.id}/events"}

    @app.post("/api/train/resume", status_code=202)
    async def resume(request: Request):
        body = await _json(request)
        job = await run_in_threadpool(studio.training.resume, body)
        return {"job": job.id, "run": job.about.get("run"),
                "events": f"/api/jobs/{job.id}/events"}

    @app.post("/api/train/{job_id}/stop", status_code=202)
    def stop(job_id: str):
        job = studio.training.stop(job_id)
        return job.to_json()

    @app.post("/api/evaluate", status_code=202)
    async def evaluate(request: Request):
        body = await _json(request)
        job = await run_in_threadpool(studio.evaluate, body)
        return {"job": job.id, "events": f"/api/jobs/{job.id}/events"}


# --- helpers -------------------------------------------------------------------------------

async def _json(request: Request) -> dict:
    if "json" not in request.headers.get("content-type", ""):
        raise OptionError("", "send the request body as JSON (Content-Type: "
                          "application/json)")
    raw = await request.body()
    try:
        body = json.loads(raw or b"null")
    except (ValueError, RecursionError):
        raise OptionError("", "the request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise OptionError("", "the request body must be a JSON object")
    return body


async def _events(job, seen: int, request: Request):
    last = time.monotonic()
    while True:
        for e in job.since(seen):
            seen = e["id"]
            yield (f"id: {e['id']}\nevent: {e['event']}\n"
                   f"data: {json.dumps(e['data'], default=str)}\n\n")
            last = time.monotonic()
        if job.finished and not job.since(seen):
            return
        if await request.is_disconnected():
            return
        if time.monotonic() - last > 15:
            yield ": keep-alive\n\n"
            last = time.monotonic()
        await asyncio.sleep(0.1)


def _composition(studio: Studio, comp_id: str):
    c = studio.store.get(comp_id) if valid_id(comp_id) else None
    if c is None:
        raise NotFound(f"composition {comp_id[:40]!r}")
    return c


def _form(studio: Studio, entry):
    from tunesmith import families, models
    from tunesmith.studio.catalog import form_fields

    ckpt = studio.cache.load(entry)
    family = families.for_representation(ckpt.representation.name)
    return form_fields(family, models.registry()[ckpt.meta["family"]],
                       ckpt.representation.heads, studio.settings.max_num, ckpt.representation)


def _trainables() -> list[dict]:
    """Families, their architectures and each one's presets (the training form)."""
    from tunesmith import families
    from tunesmith.presets import PRESETS

    out = []
    for name in families.FAMILIES:
        fam = families.get(name)
        out.append({"family": name, "corpus": fam.default_corpus,
                    "archs": [{"arch": a, "presets": sorted(PRESETS.get(a, {}))}
                              for a in fam.models()]})
    return out


def _query(request: Request) -> Query:
    p = request.query_params
    known = {"model", "family", "style", "q", "starred", "since", "until", "job", "limit",
             "offset"}
    for name in p:
        if name not in known:
            raise OptionError(name, f"is not a gallery filter ({', '.join(sorted(known))})")
    starred = p.get("starred")
    if starred not in (None, "", "true", "false", "1", "0"):
        raise OptionError("starred", "must be true or false")
    return Query(model=p.get("model") or None, family=p.get("family") or None,
                 style=p.get("style") or None, text=(p.get("q") or "")[:200] or None,
                 starred=None if starred in (None, "") else starred in ("true", "1"),
                 since=_date(p.get("since"), "since"), until=_date(p.get("until"), "until",
                                                                   end=True),
                 job=p.get("job") or None, limit=_int(p.get("limit"), "limit", 50, 1, 200),
                 offset=_int(p.get("offset"), "offset", 0, 0, 10**9))


def _date(text: str | None, name: str, end: bool = False) -> float | None:
    if not text:
        return None
    try:
        day = datetime.strptime(text, "%Y-%m-%d")
        return day.timestamp() + (86400 if end else 0)
    except (ValueError, OverflowError, OSError):  # not a date, or one no clock reaches
        raise OptionError(name, f"must be a date as YYYY-MM-DD from 1970 on, got "
                          f"{text[:30]!r}") from None


def _int(text: str | None, name: str, default: int, low: int, high: int) -> int:
    if text in (None, ""):
        return default
    if not text.isdigit() or not low <= int(text) <= high:
        raise OptionError(name, f"must be a whole number from {low} to {high}")
    return int(text)


def _number(x) -> str:
    if x is None:
        return ""
    if isinstance(x, int):
        return f"{x:,}"
    return f"{x:.3f}" if abs(x) < 100 else f"{x:,.0f}"


__all__ = ["BodyTooLarge", "Guard", "create_app"]
