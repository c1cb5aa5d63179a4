"""The few Modal calls the client makes, behind one seam.

Everything that talks to Modal's servers goes through :class:`ModalCalls`: the token
check, volumes (list, read, batch upload, remove), looking up a deployed class, running an
ephemeral app, a progress queue, ``.spawn`` and its ``FunctionCall`` (poll, cancel),
``app.deploy()`` and the billing report. :func:`connect` gives the real one; tests replace
it with a double that follows the same contract (Modal's servers cannot be reached from
CI). Modal's own exceptions stop here: callers see our errors, each one line.
"""

from __future__ import annotations

import contextlib
import io
import logging
import queue
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from ...errors import BadInput, StageFailed, VfxIngestError

if TYPE_CHECKING:
    from .app import BuiltApp

log = logging.getLogger(__name__)

TOKEN_FIX = "Run `modal token new` (or set MODAL_TOKEN_ID and MODAL_TOKEN_SECRET)"
DEPLOY_FIX = "Run `vfx-ingest deploy modal`"


@dataclass(frozen=True)
class Entry:
    """A file or folder in a volume (path relative to the volume's root)."""

    path: str
    size: int
    is_dir: bool = False


class Writable(Protocol):
    def write(self, data: bytes, /) -> int: ...


class VolumeCalls(Protocol):
    name: str

    def listdir(self, path: str, recursive: bool = False) -> list[Entry]:
        """What is under ``path``; [] when it does not exist."""
        ...

    def read(self, path: str, into: Writable) -> None:
        """Copy a file into ``into``; FileNotFoundError when it does not exist."""
        ...

    def upload(self, files: list[tuple[Path | bytes, str]]) -> None:
        """Put local files (or bytes) at volume paths in one batch, replacing files."""
        ...

    def remove(self, path: str) -> None:
        """Remove a file or a folder tree; nothing when it does not exist."""
        ...


class CallHandle(Protocol):
    object_id: str

    def result(self, timeout: float) -> Any | None:
        """The call's return value, or None when it is still running after ``timeout``."""
        ...

    def cancel(self) -> None: ...


class EventQueue(Protocol):
    """A queue the worker puts events into and the client drains."""

    @property
    def remote(self) -> Any:
        """What the call is given to put events into."""
        ...

    def get_many(self, n: int, timeout: float) -> list[Any]: ...


class ModalCalls(Protocol):
    def check_token(self) -> None:
        """BadInput when no Modal token is configured here."""
        ...

    def volume(
        self, name: str, environment: str | None, *, create: bool, missing_fix: str
    ) -> VolumeCalls: ...

    def deployed_class(self, app_name: str, cls_name: str, environment: str | None) -> Any:
        """A class of the deployed app; BadInput when the app is not deployed."""
        ...

    def ephemeral(
        self, built: BuiltApp, environment: str | None
    ) -> contextlib.AbstractContextManager[Callable[[str], Any]]:
        """Run the app for the duration of the block (``app.run()``), stopped on exit;
        the block gets its classes by name."""
        ...

    def event_queue(self, environment: str | None) -> contextlib.AbstractContextManager:
        """An EventQueue that lives for the block."""
        ...

    def spawn(self, cls: Any, *, gpu: str | None, models: str, args: tuple) -> CallHandle:
        """``cls(models=...).run_job.spawn(*args)``, on ``gpu`` when given."""
        ...

    def deploy(self, built: BuiltApp, environment: str | None, *, logs: bool) -> str:
        """Deploy the app (with Modal's build output when ``logs``); its app id."""
        ...

    def billing_report(
        self, start: datetime, end: datetime, tag_names: list[str]
    ) -> list[dict[str, Any]]:
        """Modal's hourly workspace report: rows with ``interval_start``, ``cost``, ``tags``."""
        ...


def read_bytes(volume: VolumeCalls, path: str) -> bytes | None:
    """A small file's content, or None when it is not there."""
    buffer = io.BytesIO()
    try:
        volume.read(path, buffer)
    except FileNotFoundError:
        return None
    return buffer.getvalue()


def connect() -> ModalCalls:
    """The live Modal client (the seam tests replace)."""
    try:
        import modal  # noqa: F401
    except ImportError as exc:
        raise BadInput(
            "the Modal backend needs the modal package", fix="pip install 'vfx-ingest[modal]'"
        ) from exc
    return LiveModal()


@contextlib.contextmanager
def _translated(what: str) -> Iterator[None]:
    """Modal's exceptions as ours: a bad token is bad input; the rest fail the step."""
    import modal.exception as mx

    try:
        yield
    except VfxIngestError:
        raise
    except mx.AuthError as exc:
        raise BadInput(f"Modal refused the token ({exc})", fix=TOKEN_FIX) from exc
    except mx.Error as exc:
        raise StageFailed(f"Modal: {what} failed ({type(exc).__name__}: {exc})") from exc


class LiveVolume:
    def __init__(self, volume: Any, name: str) -> None:
        self.volume = volume
        self.name = name

    def listdir(self, path: str, recursive: bool = False) -> list[Entry]:
        import modal.exception as mx
        from modal.volume import FileEntryType

        with _translated(f"listing {self.name}:{path}"):
            try:
                entries = self.volume.listdir(path, recursive=recursive)
            except (mx.NotFoundError, FileNotFoundError):
                return []
        return [
            Entry(e.path.lstrip("/"), e.size, e.type == FileEntryType.DIRECTORY) for e in entries
        ]

    def read(self, path: str, into: Writable) -> None:
        with _translated(f"reading {self.name}:{path}"):
            for chunk in self.volume.read_file(path):
                into.write(chunk)

    def upload(self, files: list[tuple[Path | bytes, str]]) -> None:
        if not files:
            return
        with _translated(f"uploading to {self.name}"), self.volume.batch_upload(force=True) as b:
            for source, dest in files:
                b.put_file(io.BytesIO(source) if isinstance(source, bytes) else source, dest)

    def remove(self, path: str) -> None:
        import modal.exception as mx

        with (
            _translated(f"removing {self.name}:{path}"),
            contextlib.suppress(mx.NotFoundError, FileNotFoundError),
        ):
            self.volume.remove_file(path, recursive=True)


class LiveCall:
    def __init__(self, call: Any) -> None:
        self.call = call
        self.object_id: str = call.object_id

    def result(self, timeout: float) -> Any | None:
        import modal.exception as mx

        try:
            return self.call.get(timeout=timeout)
        except mx.OutputExpiredError as exc:
            raise StageFailed(f"Modal call {self.object_id} ended without a result") from exc
        except mx.TimeoutError:
            return None
        except Exception as exc:  # the worker's own exception, or Modal's, re-raised here
            raise StageFailed(f"the Modal worker failed ({type(exc).__name__}: {exc})") from exc

    def cancel(self) -> None:
        try:
            self.call.cancel()
        except Exception as exc:  # cancelling is best effort on top of the run's own stop
            log.warning("could not cancel Modal call %s: %s", self.object_id, exc)


class LiveQueue:
    def __init__(self, q: Any) -> None:
        self.queue = q

    @property
    def remote(self) -> Any:
        return self.queue

    def get_many(self, n: int, timeout: float) -> list[Any]:
        try:
            return list(self.queue.get_many(n, block=True, timeout=timeout))
        except queue.Empty:
            return []


class LiveModal:
    """The real thing: the ``modal`` SDK with the user's own token."""

    def check_token(self) -> None:
        from modal.config import config

        if not (config.get("token_id") and config.get("token_secret")):
            raise BadInput("no Modal token is configured on this machine", fix=TOKEN_FIX)

    def volume(
        self, name: str, environment: str | None, *, create: bool, missing_fix: str
    ) -> LiveVolume:
        import modal
        import modal.exception as mx

        volume = modal.Volume.from_name(
            name, environment_name=environment, create_if_missing=create
        )
        with _translated(f"looking up volume {name}"):
            try:
                volume.hydrate()
            except mx.NotFoundError as exc:
                raise BadInput(f"the Modal volume {name} does not exist", fix=missing_fix) from exc
        return LiveVolume(volume, name)

    def deployed_class(self, app_name: str, cls_name: str, environment: str | None) -> Any:
        import modal
        import modal.exception as mx

        cls = modal.Cls.from_name(app_name, cls_name, environment_name=environment)
        with _translated(f"looking up {app_name}.{cls_name}"):
            try:
                cls.hydrate()
            except mx.NotFoundError as exc:
                raise BadInput(
                    f"the Modal app {app_name} is not deployed, or has no {cls_name} worker",
                    fix=DEPLOY_FIX,
                ) from exc
        return cls

    @contextlib.contextmanager
    def ephemeral(self, built: BuiltApp, environment: str | None) -> Iterator[Callable[[str], Any]]:
        with (
            _translated("starting the ephemeral app"),
            built.app.run(environment_name=environment),
        ):
            yield built.classes.__getitem__

    @contextlib.contextmanager
    def event_queue(self, environment: str | None) -> Iterator[Any]:
        import modal

        with (
            _translated("the progress queue"),
            modal.Queue.ephemeral(environment_name=environment) as q,
        ):
            yield LiveQueue(q)

    def spawn(self, cls: Any, *, gpu: str | None, models: str, args: tuple) -> LiveCall:
        variant = cls.with_options(gpu=gpu) if gpu else cls
        with _translated("submitting the job"):
            return LiveCall(variant(models=models).run_job.spawn(*args))

    def deploy(self, built: BuiltApp, environment: str | None, *, logs: bool) -> str:
        import modal

        output = modal.enable_output() if logs else contextlib.nullcontext()
        with _translated(f"deploying {built.spec.name}"), output:
            built.app.deploy(name=built.spec.name, environment_name=environment)
        return str(built.app.app_id)

    def billing_report(
        self, start: datetime, end: datetime, tag_names: list[str]
    ) -> list[dict[str, Any]]:
        import modal

        with _translated("reading the billing report"):
            items = modal.Workspace.from_context().billing.report(
                start=start, end=end, resolution="h", tag_names=tag_names
            )
        return [
            {"interval_start": i.interval_start, "cost": i.cost, "tags": dict(i.tags)}
            for i in items
        ]
