"""This machine's record of the pods its runs created: ``<user data>/pods.json``.

An entry is written the moment RunPod's create answer arrives, before anything waits on
the pod, and removed once the pod is confirmed gone. An entry whose client process has
died names a pod nobody will terminate: every run, and ``pods gc``, collects those.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel, Field

from .... import atomic

NAME_PREFIX = "vfx-ingest-"


class PodEntry(BaseModel):
    pod_id: str
    run_id: str
    name: str
    client_pid: int
    created_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    usd_per_hour: float
    gpu: str
    deadline: datetime | None = None
    last_heartbeat: datetime | None = None  # the client's last request to the pod
    kept: bool = False  # --keep-pod: the user's, until its idle rule ends it

    def client_alive(self) -> bool:
        try:
            os.kill(self.client_pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True


def ledger_path() -> Path:
    from platformdirs import user_data_path

    return user_data_path("vfx-ingest") / "pods.json"


class Ledger:
    def __init__(self, path: Path | None = None) -> None:
        self.path = path or ledger_path()

    @contextlib.contextmanager
    def _locked(self) -> Iterator[dict[str, PodEntry]]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.with_suffix(".lock").open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            entries = self._read()
            before = dict(entries)
            yield entries
            if entries != before:
                data = {k: v.model_dump(mode="json") for k, v in entries.items()}
                atomic.write_text(self.path, json.dumps(data, indent=1))

    def _read(self) -> dict[str, PodEntry]:
        try:
            data = json.loads(self.path.read_text())
        except (FileNotFoundError, ValueError):
            return {}
        return {k: PodEntry.model_validate(v) for k, v in data.items()}

    def entries(self) -> list[PodEntry]:
        return list(self._read().values())

    def add(self, entry: PodEntry) -> None:
        with self._locked() as entries:
            entries[entry.pod_id] = entry

    def update(self, pod_id: str, **changes: object) -> None:
        with self._locked() as entries:
            if pod_id in entries:
                entries[pod_id] = entries[pod_id].model_copy(update=changes)

    def remove(self, pod_id: str) -> None:
        with self._locked() as entries:
            entries.pop(pod_id, None)

    def orphans(self) -> list[PodEntry]:
        """Entries whose client is gone and that nobody asked to keep."""
        return [e for e in self.entries() if not e.kept and not e.client_alive()]
