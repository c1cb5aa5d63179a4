"""What every source adapter shares: the request, the errors, verify-then-publish."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import BadInput, VfxIngestError
from .store import Expected

# (bytes done, bytes total or None) after each chunk.
ProgressFn = Callable[[int, int | None], None]

PARTIAL_SUFFIX = ".part"


class SourceFailed(VfxIngestError):
    """A source could not deliver a file (network, HTTP error, quota); another may."""


class ChecksumMismatch(VfxIngestError):
    """The bytes that arrived are not the ones expected; they were deleted."""


class AccessDenied(BadInput):
    """A gated or private model, and no token (or one without access)."""


class Cancelled(VfxIngestError):
    exit_code = 130


@dataclass
class FetchRequest:
    """One file to bring from one source into ``dest`` (for hf://: into the Hub cache)."""

    model: str
    path: str
    dest: Path
    expected: Expected | None
    on_progress: ProgressFn = lambda done, total: None
    timeout: float = 30.0
    retries: int = 3
    cancel: threading.Event = field(default_factory=threading.Event)

    @property
    def partial(self) -> Path:
        return self.dest.with_name(self.dest.name + PARTIAL_SUFFIX)

    def check_cancelled(self) -> None:
        if self.cancel.is_set():
            raise Cancelled(f"download of {self.model}/{self.path} was cancelled")


def mismatch(request: FetchRequest, sha256: str, size: int) -> str | None:
    """Why the arrived bytes are wrong, or None when they are right (or nothing is known)."""
    expected = request.expected
    if expected is None:
        return None
    if expected.bytes is not None and size != expected.bytes:
        return f"{size} bytes arrived, {expected.origin} says {expected.bytes}"
    if expected.sha256 is not None and sha256 != expected.sha256:
        return f"sha256 {sha256[:12]}…, {expected.origin} says {expected.sha256[:12]}…"
    return None


def publish(request: FetchRequest, staged: Path, sha256: str) -> None:
    """Move a complete, verified download into place; delete it if it does not verify."""
    why = mismatch(request, sha256, staged.stat().st_size)
    if why is not None:
        staged.unlink(missing_ok=True)
        raise ChecksumMismatch(
            f"checksum mismatch for {request.model}/{request.path}: {why}; the file was removed",
            fix="Run the sync again; if it persists the source changed: report it, or pin "
            "another revision in your registry file",
        )
    request.dest.parent.mkdir(parents=True, exist_ok=True)
    staged.replace(request.dest)
