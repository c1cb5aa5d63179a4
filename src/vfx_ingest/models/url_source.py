"""Plain https downloads: resumable with Range requests, retried, hashed as they stream.

Bytes go to ``<file>.part`` next to the destination; an interrupted download (a dropped
connection, Ctrl-C, a killed process) resumes from the partial file's size on the next
attempt or the next ``models sync``. The partial bytes are hashed before resuming, so the
final digest covers the whole file without reading it back.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..digest import sha256_file
from .fetch import FetchRequest, SourceFailed, publish
from .sources import UrlSource, redact

if TYPE_CHECKING:
    import httpx

CHUNK = 1 << 20


class _Retryable(Exception):
    """A transient failure worth another attempt (timeouts, resets, 5xx, 429)."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after  # what the server asked for (Retry-After), seconds


def fetch_url(source: UrlSource, request: FetchRequest) -> str:
    """Download ``request.path`` from ``source`` to ``request.dest``; return its sha256."""
    import httpx

    from .. import retry

    url = source.file_url(request.path)
    timeout = httpx.Timeout(request.timeout)
    with httpx.Client(timeout=timeout, follow_redirects=True) as client:
        try:
            for attempt in retry.attempts(
                lambda exc: isinstance(exc, _Retryable), request.retries + 1
            ):
                with attempt:
                    sha256 = _attempt(client, url, request)
        except _Retryable as exc:
            raise SourceFailed(
                f"{request.model}/{request.path}: {exc} from {redact(url)}, "
                f"after {request.retries + 1} attempts; the partial file is kept",
                fix="Run the same `vfx-ingest models sync` again to resume",
            ) from exc
    publish(request, request.partial, sha256)
    return sha256


def _attempt(client: httpx.Client, url: str, request: FetchRequest) -> str:
    import httpx

    from .. import retry

    request.check_cancelled()
    partial = request.partial
    partial.parent.mkdir(parents=True, exist_ok=True)
    have = partial.stat().st_size if partial.exists() else 0
    headers = {"Accept-Encoding": "identity"}
    if have:
        headers["Range"] = f"bytes={have}-"
    try:
        with client.stream("GET", url, headers=headers) as response:
            if response.status_code == 416 and have:
                # The partial file is complete already, or longer than the file: start over
                # unless its size is the expected one.
                expected = request.expected.bytes if request.expected else None
                if expected == have:
                    return sha256_file(partial)
                partial.unlink()
                raise _Retryable("HTTP 416 for the partial file; restarting")
            if response.status_code >= 500 or response.status_code == 429:
                asked = retry.retry_after(response.headers.get("Retry-After"))
                raise _Retryable(f"HTTP {response.status_code}", asked)
            if response.status_code >= 400:
                raise SourceFailed(
                    f"{request.model}/{request.path}: HTTP {response.status_code} "
                    f"from {redact(url)}"
                )
            resumed = response.status_code == 206 and _range_start(response) == have
            hasher = hashlib.sha256()
            if resumed:
                _feed(hasher, partial)
            else:
                have = 0  # the server ignored the Range: take the whole body
            total = _total(response, have)
            with partial.open("ab" if resumed else "wb") as out:
                done = have
                request.on_progress(done, total)
                for chunk in response.iter_bytes():
                    request.check_cancelled()
                    out.write(chunk)
                    hasher.update(chunk)
                    done += len(chunk)
                    request.on_progress(done, total)
            if total is not None and done < total:
                raise _Retryable(f"connection closed after {done} of {total} bytes")
            return hasher.hexdigest()
    except (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError) as exc:
        raise _Retryable(type(exc).__name__.replace("Error", " error").lower()) from exc


def _range_start(response: httpx.Response) -> int | None:
    value = response.headers.get("Content-Range", "")  # "bytes 100-199/200"
    try:
        return int(value.split()[1].split("-")[0])
    except (IndexError, ValueError):
        return None


def _total(response: httpx.Response, have: int) -> int | None:
    length = response.headers.get("Content-Length")
    return have + int(length) if length and length.isdigit() else None


def _feed(hasher: Any, path: Path) -> None:
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            hasher.update(chunk)
