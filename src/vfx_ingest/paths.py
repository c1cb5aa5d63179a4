"""Shot-relative paths from the wire: a job or a worker's answer never reaches outside the
folder it is meant for.

Every path that crosses a process boundary (a job's inputs, a worker's outputs, object
keys on a mounted volume) is checked twice: its text (relative, POSIX, no ``..``) when it
is parsed, and its resolved location (no symlink leading out) when it is opened.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from .errors import BadInput


def check_relpath(text: str, *, what: str = "path") -> str:
    """``text`` if it is a clean relative POSIX path, else BadInput (path traversal)."""
    path = PurePosixPath(text)
    if (
        not text
        or "\\" in text
        or "\0" in text
        or path.is_absolute()
        or text.startswith("~")
        or any(part in ("..", ".", "") for part in text.split("/"))
    ):
        raise BadInput(
            f"refused {what} {text!r}: it must be a relative path inside the shot "
            "(no absolute paths, no '..')",
            fix="This job was not made by vfx-ingest or was tampered with",
        )
    return text


def safe_join(root: Path, relpath: str, *, what: str = "path") -> Path:
    """``root / relpath``, refusing anything that resolves outside ``root`` (symlinks too)."""
    check_relpath(relpath, what=what)
    base = root.resolve()
    target = (base / relpath).resolve()
    if not target.is_relative_to(base):
        raise BadInput(
            f"refused {what} {relpath!r}: it leads outside {root} (through a symlink)",
            fix="Remove the symlink from the shot folder",
        )
    return target


PROJECT_FILE = "vfx-ingest.toml"


def find_project_file(start: Path | None = None) -> Path | None:
    """The nearest ``vfx-ingest.toml`` in ``start`` or its parents (like ruff and git do)."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / PROJECT_FILE
        if candidate.is_file():
            return candidate
    return None
