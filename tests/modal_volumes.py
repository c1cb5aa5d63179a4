"""Modal volume semantics for the Modal double (modal_double.py, modal_container.py).

Modal's documentation of ``modal.Volume``: a container sees the volume as it was when the
container mounted it; it sees later changes only after ``reload()``, and its own writes
become visible outside only after ``commit()``; ``reload()`` fails while files on the
volume are open. Here a volume's committed state is a folder (what the client's calls
read and write) and each container has its own view, another folder:

- ``mount()`` (container start) copies the committed state into the view;
- ``reload()`` refuses while this process holds a file under the view open, then brings in
  what changed in the committed state since the last sync (files the container changed
  and did not commit stay as they are);
- ``commit()`` copies what the container changed into the committed state, and removes
  there what it deleted.

Modal may also commit in the background and when a container stops; a warm container
outlives the call whose result the client reads, so the double never does: a write is
visible once ``commit()`` ran, not before (never more forgiving than the service).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

Stat = tuple[int, int]  # size, mtime_ns: copies keep both, so equal means unchanged


def _files(root: Path) -> dict[str, Stat]:
    found: dict[str, Stat] = {}
    for folder, _dirs, names in os.walk(root):
        for name in names:
            path = Path(folder, name)
            info = path.lstat()
            found[path.relative_to(root).as_posix()] = (info.st_size, info.st_mtime_ns)
    return found


def _copy(source: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.is_symlink() or dest.exists():
        dest.unlink()
    shutil.copy2(source, dest, follow_symlinks=False)


class MountedVolume:
    """One container's view of one volume."""

    def __init__(self, committed: Path, view: Path) -> None:
        self.committed, self.view = committed, view
        self.state = view.with_name(view.name + ".synced.json")

    def _known(self) -> dict[str, Stat]:
        data = json.loads(self.state.read_text()) if self.state.exists() else {}
        return {rel: (size, mtime) for rel, (size, mtime) in data.items()}

    def _save(self, known: dict[str, Stat]) -> None:
        self.state.write_text(json.dumps(known))

    def mount(self) -> None:
        self.view.mkdir(parents=True, exist_ok=True)
        self.committed.mkdir(parents=True, exist_ok=True)
        self._pull()

    def open_files(self) -> list[str]:
        """Files under the view this process has open (Linux: /proc/self/fd)."""
        fds = Path("/proc/self/fd")
        if not fds.is_dir():
            return []
        found = []
        for fd in fds.iterdir():
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith(f"{self.view}/"):
                found.append(target)
        return found

    def reload(self) -> None:
        if files := self.open_files():
            raise RuntimeError(f"there are open files preventing the operation: {files[0]}")
        self._pull()

    def _pull(self) -> None:
        known, committed, here = self._known(), _files(self.committed), _files(self.view)
        for rel, stat in committed.items():
            if known.get(rel) != stat or rel not in here:
                if rel in known and rel in here and here[rel] != known[rel]:
                    continue  # changed here, not committed yet: last writer wins at commit
                _copy(self.committed / rel, self.view / rel)
        for rel in set(known) - set(committed):
            if rel in here and here[rel] == known[rel]:
                (self.view / rel).unlink()  # deleted elsewhere and committed
        self._save(committed)

    def commit(self) -> None:
        known, here = self._known(), _files(self.view)
        for rel, stat in here.items():
            if known.get(rel) != stat:
                _copy(self.view / rel, self.committed / rel)
        for rel in set(known) - set(here):
            (self.committed / rel).unlink(missing_ok=True)
        self._save(here)
