"""Servers on 127.0.0.1 for the model download tests: a file server and a Hub look-alike.

``FileServer`` serves bytes with Range support, and can misbehave on purpose: answer
429 (with ``Retry-After``) or 5xx first, drop the connection after N bytes, ignore Range
requests, or wait before answering. ``HubServer`` is a contract double of
the Hugging Face Hub's file routes, following what huggingface_hub's ``hf_hub_download``
calls (read from its source): ``HEAD``/``GET /{org}/{repo}/resolve/{revision}/{path}``
answering with ``X-Repo-Commit``, ``ETag`` (the git blob id of small files) or, for LFS
files, a 302 to a separate CDN origin with ``X-Linked-Etag`` (the sha256) and
``X-Linked-Size``; gated repos answer 401/403 with ``X-Error-Code: GatedRepo``, unknown
files 404 with ``EntryNotFound``; private repos 401 ``RepoNotFound`` without a token
and 404 with a token that has no access; a token the Hub does not know is refused with
401 on every repo, public ones too (as the Hub does). Both stop when their ``with``
block ends; every wait is bounded and interrupted by the stop.
"""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def git_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


class _Server:
    """A threading HTTP server on 127.0.0.1 with a random port, run in a daemon thread."""

    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self.stopping = threading.Event()
        self.requests: list[dict[str, Any]] = []
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.httpd.block_on_close = False
        self.httpd.owner = self  # type: ignore[attr-defined]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __enter__(self) -> Any:
        self.thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stopping.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


class _Handler(BaseHTTPRequestHandler):
    server: ThreadingHTTPServer

    @property
    def owner(self) -> Any:
        return self.server.owner  # type: ignore[attr-defined]

    def log_message(self, format: str, *args: Any) -> None:
        return  # quiet test output

    def send_body(self, data: bytes, headers: dict[str, str] | None = None) -> None:
        """200, or 206 for a ``Range: bytes=N-`` request; body dropped on HEAD."""
        start = 0
        range_header = self.headers.get("Range")
        if range_header and range_header.startswith("bytes="):
            start = int(range_header[len("bytes=") :].split("-")[0])
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data) - start))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        if self.command != "HEAD":
            self.write_body(data[start:])

    def write_body(self, body: bytes) -> None:
        self.wfile.write(body)


@dataclass
class FileServer:
    """Serves ``files`` at ``/<name>``. Misbehaviours apply to every GET while set."""

    files: dict[str, bytes]
    drop_after: int | None = None  # close the connection after this many body bytes
    drop_times: int | None = None  # ... for this many requests only (None: all)
    delay: float = 0.0  # seconds before answering
    fail: list[int] = field(default_factory=list)  # statuses for the next GETs, in order
    retry_after: str | None = None  # Retry-After sent with a failing 429 or 503
    ignore_range: bool = False  # answer 200 with the whole file to Range requests
    _server: _Server | None = field(default=None, init=False)

    def url(self, name: str = "") -> str:
        assert self._server is not None
        return f"{self._server.base}/{name}"

    @property
    def requests(self) -> list[dict[str, Any]]:
        assert self._server is not None
        return self._server.requests

    def __enter__(self) -> FileServer:
        owner = self

        class Handler(_Handler):
            def do_GET(self) -> None:
                server = self.owner
                server.requests.append(
                    {"path": self.path, "range": self.headers.get("Range"), "at": time.monotonic()}
                )
                if owner.delay and server.stopping.wait(owner.delay):
                    return
                if owner.fail:
                    status = owner.fail.pop(0)
                    self.send_response(status)
                    if owner.retry_after and status in (429, 503):
                        self.send_header("Retry-After", owner.retry_after)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if owner.ignore_range:
                    del self.headers["Range"]
                name = self.path.lstrip("/").split("?")[0]
                if name not in owner.files:
                    self.send_error(404)
                    return
                self.send_body(owner.files[name])

            def write_body(self, body: bytes) -> None:
                if owner.drop_after is None or owner.drop_times == 0:
                    self.wfile.write(body)
                    return
                if owner.drop_times is not None:
                    owner.drop_times -= 1
                self.wfile.write(body[: owner.drop_after])
                self.wfile.flush()
                self.close_connection = True

        self._server = _Server(Handler).__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        assert self._server is not None
        self._server.__exit__(*exc)


@dataclass
class Repo:
    files: dict[str, bytes]
    commit: str = "0123456789abcdef0123456789abcdef01234567"
    gated: bool = False
    lfs: tuple[str, ...] = ()  # paths stored with LFS (served through the CDN)
    grant: str | None = None  # the token that has accepted the gated license (or, private)
    private: bool = False


class HubServer:
    """A Hub double (see the module docstring) for ``repos`` {"org/name": Repo}."""

    def __init__(self, repos: dict[str, Repo], tokens: tuple[str, ...] = ()) -> None:
        self.repos = repos
        # The tokens the Hub knows: ``tokens`` and the repos' grants.
        self.tokens = {*tokens, *(r.grant for r in repos.values() if r.grant)}
        self.hub: _Server | None = None
        self.cdn: _Server | None = None

    @property
    def endpoint(self) -> str:
        assert self.hub is not None
        return self.hub.base

    @property
    def requests(self) -> list[dict[str, Any]]:
        assert self.hub is not None and self.cdn is not None
        return self.hub.requests + self.cdn.requests

    def blob(self, digest: str) -> bytes | None:
        for repo in self.repos.values():
            for path, data in repo.files.items():
                if path in repo.lfs and sha256(data) == digest:
                    return data
        return None

    def __enter__(self) -> HubServer:
        hub = self

        class CdnHandler(_Handler):
            def do_GET(self) -> None:
                self.owner.requests.append({"path": self.path, "range": self.headers.get("Range")})
                data = hub.blob(self.path.strip("/").split("?")[0])
                if data is None:
                    self.send_error(404)
                    return
                self.send_body(data)

        class HubHandler(_Handler):
            def do_HEAD(self) -> None:
                self.resolve()

            def do_GET(self) -> None:
                self.resolve()

            def error(self, status: int, code: str, commit: str | None = None) -> None:
                self.send_response(status)
                self.send_header("X-Error-Code", code)
                self.send_header("X-Error-Message", code)
                if commit:
                    self.send_header("X-Repo-Commit", commit)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def resolve(self) -> None:
                auth = self.headers.get("Authorization")
                self.owner.requests.append(
                    {"method": self.command, "path": self.path, "auth": auth is not None}
                )
                parts = self.path.split("?")[0].strip("/").split("/")
                if len(parts) < 5 or parts[2] != "resolve":
                    self.error(404, "RepoNotFound")
                    return
                repo_id, revision, path = "/".join(parts[:2]), parts[3], "/".join(parts[4:])
                token = auth.removeprefix("Bearer ") if auth else None
                if token is not None and token not in hub.tokens:
                    self.send_response(401)
                    message = "Invalid credentials in Authorization header"
                    self.send_header("X-Error-Message", message)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                repo = hub.repos.get(repo_id)
                if repo is not None and repo.private and token != repo.grant:
                    repo = None  # the Hub does not say that a private repo exists
                if repo is None:
                    self.error(401 if token is None else 404, "RepoNotFound")
                    return
                if repo.gated and auth != f"Bearer {repo.grant}":
                    self.error(401 if auth is None else 403, "GatedRepo")
                    return
                if revision not in ("main", repo.commit):
                    self.error(404, "RevisionNotFound")
                    return
                if path not in repo.files:
                    self.error(404, "EntryNotFound", repo.commit)
                    return
                data = repo.files[path]
                if path in repo.lfs:
                    assert hub.cdn is not None
                    self.send_response(302)
                    self.send_header("Location", f"{hub.cdn.base}/{sha256(data)}")
                    self.send_header("X-Repo-Commit", repo.commit)
                    self.send_header("X-Linked-Etag", f'"{sha256(data)}"')
                    self.send_header("X-Linked-Size", str(len(data)))
                    self.send_header("ETag", f'"{git_sha1(data)}"')
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                headers = {"X-Repo-Commit": repo.commit, "ETag": f'"{git_sha1(data)}"'}
                self.send_body(data, headers)

        self.hub = _Server(HubHandler).__enter__()
        self.cdn = _Server(CdnHandler).__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        for server in (self.hub, self.cdn):
            if server is not None:
                server.__exit__(*exc)


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(value)


def registry_toml(models: list[dict[str, Any]]) -> str:
    """A registry file (the package's format) for ``models``."""
    base = {"stage": "test", "family": "test", "variant": "x", "license": "MIT", "commercial": True}
    blocks = []
    for model in models:
        lines = ["[[model]]"]
        lines += [f"{k} = {toml_value(v)}" for k, v in {**base, **model}.items()]
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n"
