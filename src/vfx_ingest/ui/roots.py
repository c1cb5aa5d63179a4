"""The folders the UI may show: every path a request names is resolved inside one of them.

A path from a URL is checked as text (relative, no ``..``) and again once resolved (a
symlink leading out of its root is refused), with the checks shared with the job wire
format (``paths.safe_join``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from pydantic import BaseModel

from ..errors import BadInput
from ..paths import safe_join
from ..shot import MANIFEST_NAME

UI_DIR = ".ui"  # per-shot cache of proxies, thumbnails and run logs
UPLOADS_DIR = "uploads"
SCAN_DEPTH = 3  # shots are found this many folders deep under a root


class NotInRoots(LookupError):
    """A requested path is outside the roots (or does not exist): answered 404."""


class ShotRef(BaseModel):
    """A shot folder named the way URLs name it: root index and path inside the root."""

    root: int
    rel: str

    @property
    def key(self) -> str:
        return f"{self.root}/{self.rel}" if self.rel else str(self.root)


class Roots:
    def __init__(self, dirs: list[Path]) -> None:
        self.dirs = [Path(d).expanduser().resolve() for d in dirs]

    def path(self, root: int, rel: str = "") -> Path:
        """The existing path ``rel`` inside root number ``root``; NotInRoots otherwise."""
        if not 0 <= root < len(self.dirs):
            raise NotInRoots(f"no root {root}")
        base = self.dirs[root]
        if not rel:
            return base
        try:
            target = safe_join(base, rel)
        except BadInput as exc:
            raise NotInRoots(exc.what) from None
        if not target.exists():
            raise NotInRoots(rel)
        return target

    def locate(self, path: Path) -> ShotRef | None:
        """Which root holds ``path`` once resolved (symlinks followed), if any."""
        resolved = Path(path).expanduser().resolve()
        for index, base in enumerate(self.dirs):
            if resolved.is_relative_to(base):
                return ShotRef(root=index, rel=resolved.relative_to(base).as_posix())
        return None

    def shot(self, ref: ShotRef) -> Path:
        folder = self.path(ref.root, ref.rel)
        if not (folder / MANIFEST_NAME).is_file():
            raise NotInRoots(f"{ref.key} is not a shot folder")
        return folder

    def shots(self) -> list[ShotRef]:
        """Every shot folder (one holding shot.json) under the roots, sorted by path."""
        found = [
            ShotRef(root=index, rel=rel)
            for index, base in enumerate(self.dirs)
            for rel in _scan(base, "", SCAN_DEPTH)
        ]
        return sorted(found, key=lambda ref: (ref.root, ref.rel))


def _scan(base: Path, rel: str, depth: int) -> Iterator[str]:
    folder = base / rel if rel else base
    if (folder / MANIFEST_NAME).is_file():
        yield rel
        return  # a shot's own sub-folders are passes, not shots
    if depth == 0:
        return
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return
    for entry in entries:
        # Symlinked folders are not followed: a shot must live inside its root.
        if entry.is_dir(follow_symlinks=False) and not entry.name.startswith("."):
            yield from _scan(base, f"{rel}/{entry.name}" if rel else entry.name, depth - 1)
