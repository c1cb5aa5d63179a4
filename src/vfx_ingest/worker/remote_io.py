"""The worker side of a remote job: objects in, the usual ``execute``, objects out.

The worker builds a scratch shot in a temporary folder from the job's objects (each
checked against its sha256), runs :func:`vfx_ingest.worker.executor.execute_shot` on it
exactly as the local backend does, then stores every output file under its content-addressed key and
returns the list. Objects are files on a mounted volume (``VolumeAccess``) or presigned
URLs (``PresignedAccess``, outputs through the mailbox described in ``job.py``). Nothing is
written outside the scratch shot or, on a volume, outside its mount.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path, PurePosixPath
from typing import Protocol

from .. import atomic, retry
from ..errors import BadInput, StageFailed
from ..job import (
    Job,
    JobResult,
    ObjectRef,
    OutputGrant,
    OutputObject,
    OutputRequest,
    PresignedAccess,
    object_key,
)
from ..models.runtime import ModelSettings
from ..paths import safe_join
from ..shot import ShotFolder
from ..stages.base import Cancelled
from .executor import EventFn, execute_shot

log = logging.getLogger(__name__)

VOLUME_ENV = "VFX_INGEST_VOLUME_DIR"
DEFAULT_VOLUME = "/runpod-volume"
SCRATCH_ENV = "VFX_INGEST_SCRATCH"
GRANT_TIMEOUT_ENV = "VFX_INGEST_GRANT_TIMEOUT"
CHUNK = 1 << 20


class Objects(Protocol):
    def fetch(self, ref: ObjectRef, dest: Path) -> None: ...

    def publish(
        self, job_id: str, files: list[tuple[Path, OutputObject]], cancel: threading.Event
    ) -> None: ...


def execute_remote(
    job: Job, emit: EventFn, cancel: threading.Event, models: ModelSettings | None = None
) -> JobResult:
    """Run a job whose inputs and outputs are objects, on a scratch shot."""
    remote = job.remote
    assert remote is not None
    objects: Objects = (
        UrlObjects(remote.access) if isinstance(remote.access, PresignedAccess) else VolumeObjects()
    )
    scratch_root = os.environ.get(SCRATCH_ENV) or None
    scratch = Path(tempfile.mkdtemp(prefix=f"vfx-ingest-{job.job_id[:12]}-", dir=scratch_root))
    try:
        source = None
        if remote.source is not None:
            if job.source is None:
                raise BadInput("the job has a source object but no source description")
            path = safe_join(scratch, remote.source.relpath, what="source path")
            objects.fetch(remote.source, path)
            source = job.source.model_copy(update={"path": str(path)})
        _fetch_all(objects, remote.inputs, scratch, cancel)
        shot = ShotFolder(scratch)
        manifest = shot.new_manifest()
        manifest.source = source
        manifest.frames = remote.seed.frames
        # Only upstream records: whether a requested stage runs is the client's decision.
        requested = {request.name for request in job.stages}
        manifest.stages = {k: v for k, v in remote.seed.records.items() if k not in requested}
        shot.save_manifest(manifest)
        local = job.model_copy(update={"shot": str(scratch), "source": source, "remote": None})
        result = execute_shot(local, emit, cancel, models=models)
        if result.status != "ok":
            return result
        files = list(_outputs(result, scratch, remote.output_prefix))
        objects.publish(job.job_id, files, cancel)
        result.outputs = [obj for _, obj in files]
        return result
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _fetch_all(
    objects: Objects, refs: list[ObjectRef], scratch: Path, cancel: threading.Event
) -> None:
    def one(ref: ObjectRef) -> None:
        if cancel.is_set():
            raise Cancelled("cancelled while fetching inputs")
        objects.fetch(ref, safe_join(scratch, ref.relpath, what="input path"))

    with ThreadPoolExecutor(8, thread_name_prefix="fetch") as pool:
        list(pool.map(one, refs))


def _outputs(result: JobResult, scratch: Path, prefix: str) -> Iterator[tuple[Path, OutputObject]]:
    """Every output file of the job (whole stages and chunks) with its object; relpaths
    are shot-relative for a stage, chunk-folder-relative for a chunk."""
    sets = [(scratch, record.outputs) for record in result.records]
    sets += [
        (safe_join(scratch, chunk.folder, what="chunk folder"), chunk.outputs)
        for chunk in result.chunks
    ]
    for folder, outputs in sets:
        for rel, digest in outputs.items():
            key = object_key(prefix, digest.sha256)
            obj = OutputObject(relpath=rel, sha256=digest.sha256, size=digest.size, key=key)
            yield safe_join(folder, rel, what="output path"), obj


def copy_verified(chunks: Iterable[bytes], dest: Path, ref: ObjectRef | OutputObject) -> None:
    """Write ``chunks`` to ``dest`` atomically, refusing content that is not ``ref``'s."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    h = hashlib.sha256()
    size = 0
    with atomic.target(dest) as tmp:
        with tmp.open("wb") as f:
            for block in chunks:
                h.update(block)
                size += len(block)
                f.write(block)
        if h.hexdigest() != ref.sha256 or size != ref.size:
            raise StageFailed(
                f"{ref.relpath} does not match its digest (got {size} bytes, "
                f"sha256 {h.hexdigest()[:12]}…; expected {ref.size}, {ref.sha256[:12]}…)"
            )


def _file_chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as f:
        while block := f.read(CHUNK):
            yield block


class VolumeObjects:
    """Objects are files under the volume mount; keys are their paths."""

    def __init__(self, mount: Path | None = None) -> None:
        self.mount = mount or Path(os.environ.get(VOLUME_ENV, DEFAULT_VOLUME))
        if not self.mount.is_dir():
            raise BadInput(
                "the job reads a network volume, but none is mounted on this worker",
                where=str(self.mount),
                fix="Attach the network volume to the endpoint (runpod.network_volume_id) "
                f"or set {VOLUME_ENV}",
            )

    def fetch(self, ref: ObjectRef, dest: Path) -> None:
        source = safe_join(self.mount, ref.key, what="object key")
        if not source.is_file():
            raise StageFailed(f"input {ref.relpath} is missing from the volume ({ref.key})")
        copy_verified(_file_chunks(source), dest, ref)

    def publish(
        self, job_id: str, files: list[tuple[Path, OutputObject]], cancel: threading.Event
    ) -> None:
        for path, obj in files:
            if cancel.is_set():
                raise Cancelled("cancelled while storing outputs")
            dest = safe_join(self.mount, obj.key, what="object key")
            if dest.is_file() and dest.stat().st_size == obj.size:
                continue  # content-addressed: already stored
            copy_verified(_file_chunks(path), dest, obj)


class UrlObjects:
    """Objects through presigned URLs; outputs through the job's mailbox."""

    def __init__(self, access: PresignedAccess) -> None:
        import httpx

        self.access = access
        self.http = httpx.Client(timeout=httpx.Timeout(60.0, connect=15.0), follow_redirects=True)

    def fetch(self, ref: ObjectRef, dest: Path) -> None:
        if not ref.url:
            raise BadInput(f"input {ref.relpath} has no URL to read it from")
        for attempt in _attempts():
            with attempt, self.http.stream("GET", ref.url) as response:
                _check(response, f"download input {ref.relpath}")
                copy_verified(response.iter_bytes(CHUNK), dest, ref)

    def publish(
        self, job_id: str, files: list[tuple[Path, OutputObject]], cancel: threading.Event
    ) -> None:
        access = self.access
        unique = {obj.key: (path, obj) for path, obj in files}
        request = OutputRequest(job_id=job_id, objects=[obj for _, obj in unique.values()])
        for attempt in _attempts():
            with attempt:
                response = self.http.put(
                    access.outbox_url,
                    content=request.model_dump_json().encode(),
                    headers={"Content-Type": "application/json"},
                )
                _check(response, "post the output list")
        grant = self._wait_for_grant(job_id, cancel)

        def put(item: tuple[Path, OutputObject]) -> None:
            path, obj = item
            url = grant.urls.get(obj.key)
            if url is None:
                return  # the bucket holds it already
            if cancel.is_set():
                raise Cancelled("cancelled while storing outputs")
            for attempt in _attempts():
                with attempt, path.open("rb") as f:
                    _check(self.http.put(url, content=f), f"upload {obj.relpath}")

        with ThreadPoolExecutor(8, thread_name_prefix="upload") as pool:
            list(pool.map(put, unique.values()))

    def _wait_for_grant(self, job_id: str, cancel: threading.Event) -> OutputGrant:
        deadline = time.monotonic() + float(os.environ.get(GRANT_TIMEOUT_ENV, "600"))
        delay = 0.25
        while time.monotonic() < deadline:
            if cancel.is_set():
                raise Cancelled("cancelled while waiting for upload URLs")
            response = self.http.get(self.access.grant_url)
            if response.status_code == 200:
                grant = OutputGrant.model_validate_json(response.content)
                if grant.job_id != job_id:
                    raise StageFailed("the upload grant is for another job")
                return grant
            if response.status_code not in (403, 404):
                _check(response, "read the upload grant")
            cancel.wait(delay)
            delay = min(delay * 1.5, 2.0)
        raise StageFailed(
            "the client did not answer with upload URLs in time (was it stopped?)",
            fix="Run again; finished work is cached",
        )


def _check(response, what: str) -> None:
    if response.status_code >= 400:
        raise _HttpError(f"cannot {what}: HTTP {response.status_code}", response.status_code)


class _HttpError(StageFailed):
    def __init__(self, what: str, status: int) -> None:
        super().__init__(what)
        self.status = status


def _attempts() -> Iterator[contextlib.AbstractContextManager]:
    """Network errors and 5xx/429 answers are retried with backoff."""
    import httpx

    def transient(exc: BaseException) -> bool:
        if isinstance(exc, _HttpError):
            return exc.status == 429 or exc.status >= 500
        return isinstance(exc, httpx.TransportError)

    yield from retry.attempts(transient)


def source_relpath(name: str) -> str:
    """Where the clip goes in a scratch shot: a fixed name keeping a clean suffix."""
    suffix = "".join(c for c in PurePosixPath(name).suffix.lower() if c.isalnum() or c == ".")
    return f".source/clip{suffix}"
