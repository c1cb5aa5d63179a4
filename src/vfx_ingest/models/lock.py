"""``models.lock``: exactly which bytes each model is, for reproducible deploys.

Written by ``vfx-ingest models lock`` from verified files: per model, the source resolved to
an immutable revision (a Hub commit, the URL, the Drive id), every file's sha256 and size,
and one digest over them (the digest runs carry in their cache keys). ``models sync
--locked`` fetches from those sources and refuses any byte that does not match. The file is
JSON, meant to be committed next to ``vfx-ingest.toml``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, ValidationError

from .. import atomic
from ..errors import BadInput
from ..paths import find_project_file

LOCK_NAME = "models.lock"


class LockedFile(BaseModel):
    sha256: str
    bytes: int


class LockedModel(BaseModel):
    source: str = Field(description="Where the files came from, pinned ('manual' if placed).")
    files: dict[str, LockedFile]
    digest: str


class LockFile(BaseModel):
    schema_version: Literal[1] = 1
    models: dict[str, LockedModel] = Field(default_factory=dict)


def default_lock_path() -> Path:
    """The nearest ``models.lock`` upwards, else one beside the project file, else here."""
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        if (folder / LOCK_NAME).is_file():
            return folder / LOCK_NAME
    project = find_project_file()
    return (project.parent if project else here) / LOCK_NAME


def read_lock(path: Path) -> LockFile | None:
    if not path.is_file():
        return None
    try:
        return LockFile.model_validate_json(path.read_text())
    except (OSError, ValidationError, ValueError) as exc:
        raise BadInput(
            f"cannot read the lock file ({str(exc).splitlines()[0]})",
            where=str(path),
            fix="Fix it, or delete it and run `vfx-ingest models lock`",
        ) from exc


def write_lock(path: Path, lock: LockFile) -> None:
    text = json.dumps(lock.model_dump(mode="json"), indent=2, sort_keys=True) + "\n"
    atomic.write_text(path, text, fsync=True)
