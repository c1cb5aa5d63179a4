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
import fcntl
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
    Liveness,
    MailboxObject,
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


SCRATCH_PREFIX = "vfx-ingest-job-"
OWNER = ".owner"  # held locked (flock) by the process working in the scratch folder


class Objects(Protocol):
    def fetch(self, ref: ObjectRef, dest: Path) -> None: ...

    def publish(
        self, job_id: str, files: list[tuple[Path, OutputObject]], cancel: threading.Event
    ) -> None: ...

    def heartbeat(self, liveness: Liveness) -> bytes | None: ...

    def remove(self, obj: MailboxObject) -> None: ...


def execute_remote(
    job: Job, emit: EventFn, cancel: threading.Event, models: ModelSettings | None = None
) -> JobResult:
    """Run a job whose inputs and outputs are objects, on a scratch shot."""
    remote = job.remote
    assert remote is not None
    objects: Objects = (
        UrlObjects(remote.access) if isinstance(remote.access, PresignedAccess) else VolumeObjects()
    )
    watchdog = Watchdog(remote.liveness, objects, cancel) if remote.liveness else None
    try:
        with scratch_folder() as scratch:
            result = _run_in(scratch, job, objects, emit, cancel, models)
    except Cancelled:
        if watchdog is None or not watchdog.abandoned:
            raise
        result = None
    finally:
        if watchdog is not None:
            watchdog.close()
    if watchdog is not None and watchdog.abandoned:
        raise StageFailed(
            f"the client was silent for {watchdog.liveness.timeout_s:g} s: the job cancelled "
            "itself and removed its mailbox",
            fix="Run again; finished work is cached",
        )
    assert result is not None
    return result


def _run_in(
    scratch: Path,
    job: Job,
    objects: Objects,
    emit: EventFn,
    cancel: threading.Event,
    models: ModelSettings | None,
) -> JobResult:
    remote = job.remote
    assert remote is not None
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


def scratch_root() -> Path:
    return Path(os.environ.get(SCRATCH_ENV) or tempfile.gettempdir())


@contextlib.contextmanager
def scratch_folder() -> Iterator[Path]:
    """A new scratch shot folder, locked by this process while it works in it. Its name
    never carries the job id (which is the client's text)."""
    folder = Path(tempfile.mkdtemp(prefix=SCRATCH_PREFIX, dir=scratch_root()))
    fd = os.open(folder / OWNER, os.O_CREAT | os.O_RDWR, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        os.close(fd)


def clean_scratch(root: Path | None = None, min_age_s: float = 60.0) -> list[Path]:
    """Remove the scratch folders of jobs whose process has died (their owner lock is
    free; a folder without one is removed once ``min_age_s`` old). Called at worker start."""
    removed = []
    for folder in sorted((root or scratch_root()).glob(SCRATCH_PREFIX + "*")):
        try:
            fd = os.open(folder / OWNER, os.O_RDWR)
        except FileNotFoundError:
            with contextlib.suppress(OSError):
                if time.time() - folder.stat().st_mtime > min_age_s:
                    shutil.rmtree(folder, ignore_errors=True)
                    removed.append(folder)
            continue
        except OSError:
            continue  # not ours to judge
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            continue  # a live job
        finally:
            os.close(fd)
        shutil.rmtree(folder, ignore_errors=True)
        removed.append(folder)
    if removed:
        log.info("removed %d scratch folder(s) of dead jobs", len(removed))
    return removed


class Watchdog:
    """Cancels the job when the client's heartbeat stops changing for ``timeout_s`` (its
    process was killed, its machine lost the network), then removes the job's mailbox."""

    def __init__(self, liveness: Liveness, objects: Objects, cancel: threading.Event) -> None:
        self.liveness, self.objects, self.cancel = liveness, objects, cancel
        self.abandoned = False
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._watch, name="client-watchdog", daemon=True)
        self.thread.start()

    def _watch(self) -> None:
        period = min(5.0, self.liveness.timeout_s / 4)
        last, changed = self._beat(), time.monotonic()
        while not self.stop.wait(period):
            beat = self._beat()
            if beat is not None and beat != last:
                last, changed = beat, time.monotonic()
            elif time.monotonic() - changed > self.liveness.timeout_s:
                log.warning("the client went quiet; cancelling the job")
                self.abandoned = True
                self.cancel.set()
                return

    def _beat(self) -> bytes | None:
        try:
            return self.objects.heartbeat(self.liveness)
        except Exception:  # a network blip is no beat, not a failure
            return None

    def close(self) -> None:
        self.stop.set()
        self.thread.join()
        if self.abandoned:
            for obj in self.liveness.cleanup:
                try:
                    self.objects.remove(obj)
                except Exception as exc:
                    log.warning("could not remove %s: %s", obj.key, type(exc).__name__)


def read_document(ref: ObjectRef) -> bytes:
    """A document the client stored instead of sending it (a job over the inline limit),
    checked against its digest."""
    objects: Objects = UrlObjects() if ref.url else VolumeObjects()
    with tempfile.TemporaryDirectory(prefix="vfx-ingest-doc-") as folder:
        dest = Path(folder) / "document"
        objects.fetch(ref, dest)
        return dest.read_bytes()


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

    def heartbeat(self, liveness: Liveness) -> bytes | None:
        path = safe_join(self.mount, liveness.key, what="heartbeat key")
        return path.read_bytes() if path.is_file() else None

    def remove(self, obj: MailboxObject) -> None:
        safe_join(self.mount, obj.key, what="mailbox key").unlink(missing_ok=True)

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

    def __init__(self, access: PresignedAccess | None = None) -> None:
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

    def heartbeat(self, liveness: Liveness) -> bytes | None:
        if liveness.url is None:
            return None
        response = self.http.get(liveness.url, timeout=10.0)
        return response.content if response.status_code == 200 else None

    def remove(self, obj: MailboxObject) -> None:
        if obj.delete_url is not None:
            _check(self.http.delete(obj.delete_url, timeout=10.0), f"remove {obj.key}")

    def publish(
        self, job_id: str, files: list[tuple[Path, OutputObject]], cancel: threading.Event
    ) -> None:
        access = self.access
        assert access is not None, "outputs go back through the job's mailbox"
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
            assert self.access is not None
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
