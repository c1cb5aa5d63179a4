"""The dashboard's web app (FastAPI): pages, proxies, runs over server-sent events.

Security (docs/ui.md): every request carries the access token (``?token=`` once, then a
cookie, or an ``Authorization: Bearer`` header) and a Host header naming this server (DNS
rebinding); files are served only from inside the roots, resolved (no ``..``, no symlink
out); a run starts only on a clip inside the roots; uploads stop at a size limit. Pages
load no inline script (a Content-Security-Policy says so) and nothing from the network.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import jinja2
from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, StreamingResponse
from fastapi.staticfiles import StaticFiles
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from .. import atomic
from ..backends import BACKENDS
from ..errors import BadInput
from ..stages import REGISTRY, with_dependencies
from . import proxies, shots
from .camera_view import camera_view
from .roots import UPLOADS_DIR, NotInRoots, Roots, ShotRef
from .runs import RunManager, RunOptions, cli_json

HERE = Path(__file__).resolve().parent
UPLOAD_LIMIT = 4 * 1024**3  # bytes; a clip bigger than this is copied under a root instead
SECURITY_HEADERS = [
    (b"content-security-policy", b"default-src 'self'; img-src 'self' data:; object-src 'none'"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
]

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


class Guard:
    """ASGI middleware: the Host header and the token, before anything else runs."""

    def __init__(self, app: Any, *, token: str, hosts: set[str], cookie: str) -> None:
        self.app, self.token, self.hosts, self.cookie = app, token, hosts, cookie

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        if _hostname(headers.get("host", "")) not in self.hosts:
            await _refuse(send, 403, "unknown Host header")
            return
        given = parse_qs(scope.get("query_string", b"").decode()).get("token", [""])[0]
        from_query = bool(given) and hmac.compare_digest(given, self.token)
        if not (from_query or self._known(headers)):
            await _refuse(send, 403, "missing or wrong token: open the URL `vfx-ingest ui` printed")
            return

        async def send_with_headers(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                extra = list(SECURITY_HEADERS)
                if from_query:
                    value = f"{self.cookie}={self.token}; Path=/; HttpOnly; SameSite=Strict"
                    extra.append((b"set-cookie", value.encode()))
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, send_with_headers)

    def _known(self, headers: dict[str, str]) -> bool:
        bearer = headers.get("authorization", "").removeprefix("Bearer ")
        cookie = SimpleCookie(headers.get("cookie", ""))
        candidates = [bearer, cookie[self.cookie].value if self.cookie in cookie else ""]
        return any(c and hmac.compare_digest(c, self.token) for c in candidates)


def _hostname(host: str) -> str:
    if host.startswith("["):  # [::1]:8470
        return host.split("]")[0] + "]"
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


async def _refuse(send: Send, status: int, text: str) -> None:
    body = f"{status}: {text}\n".encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"text/plain; charset=utf-8"), *SECURITY_HEADERS],
        }
    )
    await send({"type": "http.response.body", "body": body})


def create_app(
    roots: list[Path],
    *,
    token: str,
    hosts: set[str],
    cookie: str = "vfx_ingest_ui",
    upload_limit: int = UPLOAD_LIMIT,
) -> Any:
    """The ASGI app: the FastAPI routes behind the Host and token guard."""
    state = Roots(roots)
    runs = RunManager()
    templates = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> Any:
        yield
        await run_in_threadpool(runs.cancel_all)

    app = FastAPI(lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    def page(name: str, **context: Any) -> HTMLResponse:
        nav = {"shots": "Shots", "run": "Run", "resources": "Remote resources"}
        return HTMLResponse(templates.get_template(name).render(nav=nav, **context))

    def shot_folder(root: str, rel: str) -> Path:
        try:
            return state.shot(ShotRef(root=_index(root), rel=rel))
        except NotInRoots:
            raise HTTPException(404, "no such shot") from None

    def cached_in_last_run(folder: Path) -> frozenset[str]:
        run = runs.latest_for(folder)
        states = run.stage_states() if run else {}
        return frozenset(name for name, status in states.items() if status == "cached")

    @app.get("/", response_class=HTMLResponse)
    def shots_page() -> HTMLResponse:
        rows, broken = [], []
        for ref in state.shots():
            folder = state.shot(ref)
            try:
                manifest = shots.load(folder)
            except BadInput as exc:
                broken.append((ref, exc.line()))
                continue
            if manifest is not None:
                rows.append(shots.summary(ref, folder, manifest, cached_in_last_run(folder)))
        return page("shots.html", active="shots", shots=rows, broken=broken, roots=state.dirs)

    @app.get("/shot/{root}/{rel:path}", response_class=HTMLResponse)
    def shot_page(root: str, rel: str, every: int | None = Query(None, ge=1)) -> HTMLResponse:
        folder = shot_folder(root, rel)
        try:
            manifest = shots.load(folder)
        except BadInput as exc:  # a damaged or newer manifest: its one line, not a trace
            raise HTTPException(409, exc.line()) from None
        assert manifest is not None  # shot_folder checked shot.json is there
        ref = ShotRef(root=_index(root), rel=rel)
        layers = shots.pass_frames(folder)
        camera, camera_error = None, None
        cameras_json = folder / "camera" / "cameras.json"
        if cameras_json.is_file():
            try:
                camera = camera_view(cameras_json, manifest.done("camera"), every)
            except ValueError as exc:  # not a cameras.json this version reads
                camera_error = f"camera/cameras.json: {exc}"
        frames = manifest.frames.numbers() if manifest.frames else []
        data = {
            "frames": frames or sorted({n for layer in layers for n in layer.frames}),
            "fps": float(manifest.frames.fps) if manifest.frames else 24.0,
            "layers": {layer.key: layer.frames for layer in layers},
            "proxy": f"/proxy/{ref.key}",
            "depthRange": f"/api/depth-range/{ref.key}",
        }
        return page(
            "shot.html",
            active="shots",
            shot=shots.summary(ref, folder, manifest, cached_in_last_run(folder)),
            manifest=manifest,
            layers=layers,
            camera=camera,
            camera_error=camera_error,
            exports=shots.exports(folder),
            logs=shots.logs(folder),
            # "<" escaped: nothing in the data can close the <script> element holding it.
            data=json.dumps(data, separators=(",", ":")).replace("<", "\\u003c"),
        )

    def layer_of(folder: Path, key: str) -> shots.PassFrames:
        found = shots.layer(folder, key)
        if found is None:
            raise HTTPException(404, f"the shot has no {key} pass")
        return found

    @app.get("/proxy/{root}/{rel:path}")
    def proxy_image(root: str, rel: str, layer: str, frame: int) -> FileResponse:
        folder = shot_folder(root, rel)
        chosen = layer_of(folder, layer)
        path = proxies.proxy(folder, chosen, frame, plate=shots.layer(folder, "plate"))
        if path is None:
            raise HTTPException(404, f"no {layer} frame {frame}")
        return FileResponse(path, media_type="image/jpeg", headers={"cache-control": "no-cache"})

    @app.get("/api/depth-range/{root}/{rel:path}")
    def depth_range(root: str, rel: str) -> dict[str, Any]:
        folder = shot_folder(root, rel)
        layer_of(folder, "depth")  # 404 without a depth pass
        low, high, values = proxies.depth_range(folder)
        return {"low": low, "high": high, "values": values}

    @app.get("/thumb/{root}/{rel:path}")
    def thumbnail(root: str, rel: str) -> FileResponse:
        folder = shot_folder(root, rel)
        path = proxies.thumbnail(folder, shots.layer(folder, "plate", frames=True))
        if path is None:
            raise HTTPException(404, "the shot has no plate yet")
        return FileResponse(path, media_type="image/jpeg", headers={"cache-control": "no-cache"})

    @app.get("/files/{root}/{rel:path}")
    def download(root: str, rel: str) -> FileResponse:
        try:
            path = state.path(_index(root), rel)
        except NotInRoots:
            raise HTTPException(404, "not found") from None
        if not path.is_file():
            raise HTTPException(404, "not a file")
        return FileResponse(path, filename=path.name)

    @app.get("/run", response_class=HTMLResponse)
    def run_page(clip: str = "") -> HTMLResponse:
        return page(
            "run.html",
            active="run",
            clip=clip,
            stages=list(REGISTRY),
            backends=list(BACKENDS),
            roots=state.dirs,
        )

    @app.post("/api/runs")
    async def start_run(request: Request) -> JSONResponse:
        try:
            options = RunOptions.model_validate(await request.json())
            specs = with_dependencies(options.stages)
        except (ValueError, ValidationError) as exc:
            return JSONResponse({"error": f"invalid run request: {exc}"}, status_code=400)
        except BadInput as exc:
            return JSONResponse({"error": exc.line()}, status_code=400)
        clip = Path(options.clip).expanduser()
        where = state.locate(clip) if clip.is_absolute() else None
        if where is None or not clip.is_file():
            return JSONResponse(
                {
                    "error": f"{options.clip}: not a file under the shot roots. Give a clip's "
                    "absolute path inside a root, or upload it"
                },
                status_code=400,
            )
        resolved = clip.resolve()
        parent = resolved.parent
        base = state.dirs[where.root]
        shot = (base if parent == base / UPLOADS_DIR else parent) / resolved.stem
        run = await run_in_threadpool(runs.start, options, resolved, shot)
        return JSONResponse(
            {"id": run.id, "stages": [s.name for s in specs], "shot": str(shot), "pid": run.pid}
        )

    def find_run(run_id: str) -> Any:
        run = runs.get(run_id)
        if run is None:
            raise HTTPException(404, "no such run")
        return run

    @app.get("/api/runs/{run_id}")
    def run_status(run_id: str) -> dict[str, Any]:
        run = find_run(run_id)
        return {"id": run.id, "state": run.state, "exit_code": run.exit_code, "error": run.error()}

    @app.get("/api/runs/{run_id}/events")
    async def run_events(run_id: str, request: Request) -> StreamingResponse:
        run = find_run(run_id)
        start = int(request.headers.get("last-event-id", "-1")) + 1

        async def stream() -> Any:
            index = start
            while True:
                events, ended = await run_in_threadpool(run.events_from, index, 1.0)
                for event in events:
                    yield f"id: {index}\ndata: {json.dumps(event)}\n\n"
                    index += 1
                if ended and not events:
                    return
                if not events:
                    yield ": keep-alive\n\n"
                if await request.is_disconnected():
                    return

        return StreamingResponse(
            stream(), media_type="text/event-stream", headers={"cache-control": "no-cache"}
        )

    @app.post("/api/runs/{run_id}/cancel")
    async def cancel_run(run_id: str) -> dict[str, Any]:
        run = find_run(run_id)
        await run_in_threadpool(run.cancel)
        return {"id": run.id, "state": run.state, "exit_code": run.exit_code}

    @app.put("/api/upload")
    async def upload(request: Request, root: int, name: str) -> JSONResponse:
        if root not in range(len(state.dirs)) or not _plain_name(name):
            return JSONResponse({"error": f"refused upload name {name!r}"}, status_code=400)
        size = request.headers.get("content-length")
        if size is not None and int(size) > upload_limit:
            return JSONResponse(_too_big(upload_limit), status_code=413)
        folder = state.dirs[root] / UPLOADS_DIR
        folder.mkdir(exist_ok=True)
        target = _free_name(folder, name)
        received = 0
        try:
            # Written under a temporary name: a refused or broken upload leaves nothing.
            with atomic.target(target) as tmp, tmp.open("wb") as out:
                async for chunk in request.stream():
                    received += len(chunk)
                    if received > upload_limit:
                        raise _TooBig
                    out.write(chunk)
        except _TooBig:
            return JSONResponse(_too_big(upload_limit), status_code=413)
        return JSONResponse({"path": str(target), "size": received})

    @app.get("/api/estimate")
    def estimate(clip: str, stages: str, backend: str, gpu: str = "") -> dict[str, Any]:
        path = Path(clip).expanduser()
        if not path.is_absolute() or state.locate(path) is None:
            return {"error": "give a clip under the shot roots to estimate its cost"}
        args = ["cost", str(path), "--stages", stages, "--backend", backend, "--json"]
        rows, error = cli_json([*args, "--gpu", gpu] if gpu else args)
        estimates = [r for r in rows if r.get("type") == "estimate"]
        skipped = [r for r in rows if r.get("type") == "skipped"]
        return {"error": error, "estimates": estimates, "skipped": skipped}

    @app.get("/resources", response_class=HTMLResponse)
    def resources_page() -> HTMLResponse:
        from ..config import load_settings
        from .resources import list_resources

        try:
            rows, error = list_resources(load_settings()), None
        except BadInput as exc:
            rows, error = [], exc.line()
        return page("resources.html", active="resources", rows=rows, error=error)

    @app.post("/api/resources/{backend}/cleanup")
    async def cleanup(backend: str, request: Request) -> JSONResponse:
        from .resources import clean_up

        if backend not in BACKENDS:
            raise HTTPException(404, "no such backend")
        asked = await request.json()
        older_than = str(asked.get("older_than") or "7d")
        dry_run = bool(asked.get("dry_run"))
        return JSONResponse(await run_in_threadpool(clean_up, backend, older_than, dry_run))

    return Guard(app, token=token, hosts=hosts, cookie=cookie)


def _index(root: str) -> int:
    """A root's number from a URL; anything else is a path that does not exist (404)."""
    if root.isdigit():
        return int(root)
    raise NotInRoots(root)


class _TooBig(Exception):
    """The upload passed the size limit while streaming."""


def _plain_name(name: str) -> bool:
    # One plain file name: no folder part (either slash), no hidden or special name.
    return (
        bool(name)
        and "/" not in name
        and "\\" not in name
        and "\0" not in name
        and not name.startswith(".")
    )


def _free_name(folder: Path, name: str) -> Path:
    target, stem, suffix, n = folder / name, Path(name).stem, Path(name).suffix, 1
    while target.exists():
        n += 1
        target = folder / f"{stem}-{n}{suffix}"
    return target


def _too_big(limit: int) -> dict[str, str]:
    return {
        "error": f"the upload is over the {limit / 1024**2:.0f} MB limit. Copy the clip "
        "under a shot root and give its path instead"
    }


def run_forever(app: Any, host: str, port: int) -> None:
    """Serve until Ctrl-C; runs still going are cancelled on the way out."""
    import uvicorn

    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        access_log=False,  # request lines would carry the token
        log_level="warning",
        timeout_graceful_shutdown=5,
    )
    uvicorn.Server(config).run()
