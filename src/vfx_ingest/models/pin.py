"""``models lock``: verify what is cached and record it in ``models.lock``."""

from __future__ import annotations

from ..errors import BadInput
from .lock import LockedFile, LockedModel, LockFile
from .registry import ModelEntry
from .store import ModelCheck, Store


def pin(
    entries: list[ModelEntry], store: Store, lock: LockFile | None
) -> tuple[LockFile, list[ModelCheck]]:
    """Hash every file of ``entries`` and record them; entries already locked are kept.

    Files are checked against the registry's digests and the Hub's, never against the old
    lock: running ``lock`` is how a team moves a pin. A missing or corrupt model stops the
    lock before anything is written.
    """
    checks = [store.check(entry, full=True) for entry in entries]
    for check in checks:
        if check.status == "missing":
            raise BadInput(
                f"{check.id} is not downloaded, so it cannot be locked",
                fix=f"Run `vfx-ingest models sync {check.id}` first",
            )
        if check.status == "corrupt":
            raise BadInput(
                f"{check.id} does not verify ({check.problems()})",
                fix=f"Run `vfx-ingest models sync {check.id}` to fetch it again",
            )
    updated = LockFile(models=dict(lock.models) if lock else {})
    for check in checks:
        assert check.digest is not None and check.source is not None
        updated.models[check.id] = LockedModel(
            source=check.source,
            files={
                f.path: LockedFile(sha256=f.sha256 or "", bytes=f.bytes or 0) for f in check.files
            },
            digest=check.digest,
        )
    updated.models = dict(sorted(updated.models.items()))
    return updated, checks
