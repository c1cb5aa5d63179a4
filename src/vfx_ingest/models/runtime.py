"""What runs need from the model store: a check before work, local folders in the worker.

``require`` is called by the planner: every model the selected stages load must be on this
machine and intact, or the run fails before any work with the ``models sync`` command to
run. ``resolve`` is called by the worker, on whatever machine it runs: it finds the same
models with no network and checks they are the bytes the planner saw.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Protocol

from ..errors import BadInput
from ..job import ModelRef
from .lock import default_lock_path, read_lock
from .registry import ModelEntry, Registry, load_registry
from .store import ModelCheck, Store


class ModelSettings(Protocol):
    """Where models are found: the fields of ``Settings`` this library reads, passed in
    (it never reads the configuration itself)."""

    @property
    def models_dir(self) -> Path: ...

    @property
    def hf_cache(self) -> Path | None: ...

    @property
    def models_registry(self) -> Path | None: ...


def registry_for(settings: ModelSettings) -> Registry:
    return load_registry(settings.models_registry)


def store_for(settings: ModelSettings, lock_path: Path | None = None) -> Store:
    lock = read_lock(lock_path or default_lock_path())
    return Store(settings.models_dir, settings.hf_cache, lock)


def sync_hint(entry: ModelEntry) -> str:
    if entry.manual:
        return f"{entry.instructions}; then `vfx-ingest models verify {entry.id}`"
    hint = f"Run `vfx-ingest models sync {entry.id}`"
    if entry.gated:
        hint += " (gated: accept its license on the Hub and set HF_TOKEN first)"
    return hint


def _checked(entry: ModelEntry, store: Store, where: str) -> ModelCheck:
    check = store.check(entry)
    if check.status == "missing":
        raise BadInput(f"model {entry.id} is not downloaded{where}", fix=sync_hint(entry))
    if check.status == "corrupt":
        raise BadInput(
            f"model {entry.id} does not verify{where} ({check.problems()})",
            fix=f"Run `vfx-ingest models sync {entry.id}` to fetch it again",
        )
    return check


def require(model_ids: Iterable[str], settings: ModelSettings) -> list[ModelRef]:
    """A reference (id and content digest) for each model; BadInput if one is unusable."""
    ids = list(dict.fromkeys(model_ids))
    if not ids:
        return []
    registry, store = registry_for(settings), store_for(settings)
    refs = []
    for model_id in ids:
        check = _checked(registry.get(model_id), store, "")
        refs.append(ModelRef(id=model_id, digest=check.digest))
    return refs


def reference(model_ids: Iterable[str], settings: ModelSettings) -> list[ModelRef]:
    """References for a remote run, whose workers hold their own copies: the digest from
    ``models.lock`` when it pins the model, else from this machine's intact copy, else none
    (the worker then checks only that the model is there). Unknown ids are BadInput."""
    ids = list(dict.fromkeys(model_ids))
    if not ids:
        return []
    registry, store = registry_for(settings), store_for(settings)
    lock = store.lock
    refs = []
    for model_id in ids:
        entry = registry.get(model_id)
        if lock is not None and model_id in lock.models:
            refs.append(ModelRef(id=model_id, digest=lock.models[model_id].digest))
            continue
        check = store.check(entry)
        refs.append(ModelRef(id=model_id, digest=check.digest if check.status == "ok" else None))
    return refs


def resolve(refs: Iterable[ModelRef], settings: ModelSettings) -> dict[str, Path]:
    """The local folder of each model, found without network, checked against its digest."""
    refs = list(refs)
    if not refs:
        return {}
    registry, store = registry_for(settings), store_for(settings)
    folders = {}
    for ref in refs:
        check = _checked(registry.get(ref.id), store, " on this worker")
        if ref.digest and check.digest != ref.digest:
            raise BadInput(
                f"model {ref.id} on this worker is not the one the run was planned with",
                fix=f"Run `vfx-ingest models sync --locked {ref.id}` here so both match",
            )
        assert check.folder is not None
        folders[ref.id] = Path(check.folder)
    return folders
