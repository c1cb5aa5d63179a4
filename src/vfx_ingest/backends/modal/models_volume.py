"""Model weights in the Modal models volume, laid out so the worker's store finds them.

The volume mirrors the two places a model lives on this machine: ``vfx-ingest/<id>/...``
(models_dir) and ``hf/models--org--repo/snapshots/<commit>/...`` (the Hub cache, with
``refs/<branch>`` for unpinned revisions). Workers point ``VFX_INGEST_MODELS_DIR`` and
``VFX_INGEST_HF_CACHE`` at them, so ``models.runtime.resolve`` works there unchanged.

``.vfx-ingest-sync.json`` at the root records each synced model's content digest and the
sha256 of every file sent: ``models sync --to modal`` skips files already there with the
same digest, and a run checks its models against it before any GPU starts.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from ...config import Settings
from ...errors import BadInput
from ...job import ModelRef
from ...models.registry import ModelEntry
from ...models.runtime import sync_hint
from ...models.sources import HfSource
from ...models.store import RECORD_NAME, Store
from ..base import ModelsUpload
from .seam import VolumeCalls, read_bytes
from .spec import HF_SUBDIR, MODELS_SUBDIR

INDEX = ".vfx-ingest-sync.json"


def sync_fix(model_ids: list[str] | None = None) -> str:
    return f"Run `vfx-ingest models sync --to modal{''.join(' ' + m for m in model_ids or [])}`"


class SentFile(BaseModel):
    sha256: str
    size: int


class SyncedModel(BaseModel):
    digest: str
    source: str | None = None
    files: dict[str, SentFile] = {}


class Index(BaseModel):
    models: dict[str, SyncedModel] = {}


class SyncReport(BaseModel):
    """What ``models sync --to modal`` did for one model."""

    id: str
    volume: str
    digest: str
    uploaded: int
    uploaded_bytes: int
    skipped: int


def read_index(volume: VolumeCalls) -> Index:
    data = read_bytes(volume, INDEX)
    if data is None:
        return Index()
    try:
        return Index.model_validate_json(data)
    except (ValidationError, ValueError):
        return Index()  # unreadable: every file is checked and sent again


def pinned(refs: list[ModelRef], index: Index) -> list[ModelRef]:
    """``refs`` with the volume's digest where the planner had none (no lock, no copy on
    this machine): the cache keys and the workers' checks then name the synced version."""
    return [
        ref
        if ref.digest is not None or ref.id not in index.models
        else ModelRef(id=ref.id, digest=index.models[ref.id].digest)
        for ref in refs
    ]


def require(volume_name: str, refs: list[ModelRef], index: Index) -> None:
    """BadInput (with the sync command) unless the volume holds each model as planned."""
    absent = [
        ref.id
        for ref in refs
        if ref.id not in index.models
        or (ref.digest is not None and index.models[ref.id].digest != ref.digest)
    ]
    if absent:
        names = ", ".join(absent)
        raise BadInput(
            f"the Modal volume {volume_name} does not hold {names} (as this run needs "
            f"{'it' if len(absent) == 1 else 'them'})",
            fix=sync_fix(absent),
        )


@dataclass(frozen=True)
class Transfer:
    local: Path
    dest: str
    model_file: str | None = None  # the entry's file it is (its digest is checked already)


def layout(entry: ModelEntry, store: Store) -> tuple[str, list[Transfer]]:
    """The model's folder in the volume and what goes into it: each file of the cached
    model, plus what lets the worker's store find them (the Hub ref of an unpinned
    revision, our download record)."""
    location = store.locate(entry)
    if location is None:
        raise BadInput(f"model {entry.id} is not downloaded here", fix=sync_hint(entry))
    folder = location.folder
    transfers: list[Transfer] = []
    if isinstance(location.source, HfSource):
        source = location.source
        repo = store.hf_cache / f"models--{source.repo.replace('/', '--')}"
        root = f"{HF_SUBDIR}/{repo.name}"
        base = f"{HF_SUBDIR}/{folder.relative_to(store.hf_cache).as_posix()}"
        if not source.pinned:
            transfers.append(
                Transfer(repo / "refs" / source.revision, f"{root}/refs/{source.revision}")
            )
    else:
        root = base = f"{MODELS_SUBDIR}/{entry.id}"
        record = folder / RECORD_NAME
        if record.is_file():
            transfers.append(Transfer(record, f"{base}/{RECORD_NAME}"))
    transfers += [
        Transfer((folder / f.path).resolve(), f"{base}/{f.path}", f.path) for f in entry.files
    ]
    return root, transfers


def sync(volume: VolumeCalls, entries: list[ModelEntry], store: Store) -> list[SyncReport]:
    """Send each cached, verified model's files the volume lacks; update the index."""
    index = read_index(volume)
    reports = []
    for entry in entries:
        check = store.check(entry)
        if check.status != "ok" or check.digest is None:
            detail = "is not downloaded here" if check.status == "missing" else "does not verify"
            raise BadInput(f"model {entry.id} {detail}", fix=sync_hint(entry))
        checked = {f.path: f.sha256 for f in check.files}
        root, transfers = layout(entry, store)
        there = {e.path: e.size for e in volume.listdir(root, recursive=True)}
        known = index.models.get(entry.id)
        files: dict[str, SentFile] = {}
        wanted: list[Transfer] = []
        for t in transfers:
            digest = checked.get(t.model_file or "") or store.hash(t.local)[0]
            files[t.dest] = SentFile(sha256=digest, size=t.local.stat().st_size)
            sent = known.files.get(t.dest) if known else None
            if sent != files[t.dest] or there.get(t.dest) != files[t.dest].size:
                wanted.append(t)
        volume.upload([(t.local, t.dest) for t in wanted])
        index.models[entry.id] = SyncedModel(digest=check.digest, source=check.source, files=files)
        volume.upload([(index.model_dump_json(indent=2).encode(), INDEX)])
        reports.append(
            SyncReport(
                id=entry.id,
                volume=volume.name,
                digest=check.digest,
                uploaded=len(wanted),
                uploaded_bytes=sum(files[t.dest].size for t in wanted),
                skipped=len(transfers) - len(wanted),
            )
        )
    return reports


class VolumeUpload(ModelsUpload):
    models: list[SyncReport]

    def human(self) -> Any:
        from rich.table import Table

        table = Table(title="Models in the Modal volume", title_justify="left")
        for column in ("model", "volume", "sent", "already there"):
            table.add_column(column, justify="right" if column != "model" else "left")
        for report in self.models:
            sent = f"{report.uploaded} files, {report.uploaded_bytes / 1e6:.1f} MB"
            table.add_row(report.id, report.volume, sent, f"{report.skipped} files")
        return table


class VolumeTarget:
    """``models sync --to modal``: the models volume, created when missing."""

    def __init__(self, volume: VolumeCalls) -> None:
        self.volume = volume
        self.name = f"the Modal volume {volume.name}"

    def upload(self, entries: list[ModelEntry], store: Store) -> VolumeUpload:
        return VolumeUpload(target=self.name, models=sync(self.volume, entries, store))


def target(settings: Settings) -> VolumeTarget:
    """The ``sync_models`` hook: the volume, reached (token checked) before any download."""
    from . import seam

    calls = seam.connect()
    calls.check_token()
    modal = settings.modal
    return VolumeTarget(
        calls.volume(modal.models_volume, modal.environment, create=True, missing_fix=sync_fix())
    )
