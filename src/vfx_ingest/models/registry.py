"""The model registry: which weights exist, where they come from, what they may be used for.

The data is ``registry.toml`` in this package; a studio adds its own models (or replaces
ours, by id) with the ``models_registry`` setting pointing at a TOML file of the same shape.
"""

from __future__ import annotations

import difflib
import tomllib
from collections.abc import Iterable
from functools import cache
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ..errors import BadInput
from .sources import GdriveSource, Source, UrlSource, parse_source

BUILTIN = Path(__file__).with_name("registry.toml")


class ModelFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    path: str = Field(description="Path inside the source (and inside the local folder).")
    sha256: str | None = Field(None, description="Published digest; None when not published.")
    bytes: int | None = Field(None, ge=0)

    @field_validator("sha256")
    @classmethod
    def _hex(cls, value: str | None) -> str | None:
        if value is not None and (len(value) != 64 or value.strip("0123456789abcdef")):
            raise ValueError("sha256 must be 64 lowercase hex digits")
        return value

    @field_validator("path")
    @classmethod
    def _relative(cls, value: str) -> str:
        parts = value.split("/")
        if value.startswith("/") or any(p in ("", ".", "..") for p in parts):
            raise ValueError(f"{value!r} must be a relative path without '..'")
        return value


class ModelEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9.\-]*$")
    stage: str
    family: str
    variant: str
    description: str = ""
    default: bool = Field(False, description="The stage's model when none is chosen.")
    license: str
    commercial: bool = Field(description="Whether the license allows commercial use.")
    gated: bool = Field(False, description="The Hub wants the license accepted and a token.")
    manual: bool = Field(False, description="Needs a registration; the user places the files.")
    homepage: str | None = None
    notes: str = ""
    instructions: str = ""
    sources: tuple[str, ...] = ()
    files: tuple[ModelFile, ...]

    @model_validator(mode="after")
    def _consistent(self) -> ModelEntry:
        if not self.files:
            raise ValueError("a model needs at least one file")
        if self.manual and not self.instructions:
            raise ValueError("a manual model needs instructions")
        if not self.manual and not self.sources:
            raise ValueError("a model needs at least one source (or manual = true)")
        for source in self.parsed_sources:
            single = isinstance(source, GdriveSource) or (
                isinstance(source, UrlSource) and not source.is_folder
            )
            if single and len(self.files) != 1:
                raise ValueError(f"{source} names one file but the model has {len(self.files)}")
        return self

    @property
    def parsed_sources(self) -> list[Source]:
        return [parse_source(s) for s in self.sources]

    @property
    def size(self) -> int | None:
        sizes = [f.bytes for f in self.files]
        return None if any(s is None for s in sizes) else sum(s for s in sizes if s is not None)


class Registry(BaseModel):
    models: dict[str, ModelEntry]

    def get(self, model_id: str) -> ModelEntry:
        try:
            return self.models[model_id]
        except KeyError:
            close = difflib.get_close_matches(model_id, list(self.models), n=3)
            hint = f"Did you mean {', '.join(close)}? " if close else ""
            raise BadInput(
                f"unknown model {model_id!r}",
                fix=f"{hint}See `vfx-ingest models list`",
            ) from None

    def default_for(self, stage: str) -> ModelEntry | None:
        return next((m for m in self.models.values() if m.stage == stage and m.default), None)

    def stages(self) -> list[str]:
        return list(dict.fromkeys(m.stage for m in self.models.values()))

    def select(
        self, ids: Iterable[str] = (), stages: Iterable[str] = (), everything: bool = False
    ) -> list[ModelEntry]:
        """Models named by id, the defaults of ``stages``, or all; in registry order."""
        if everything:
            return list(self.models.values())
        chosen = [self.get(i) for i in ids]
        for stage in stages:
            entry = self.default_for(stage)
            if entry is None:
                known = ", ".join(self.stages())
                raise BadInput(
                    f"no default model for stage {stage!r}",
                    fix=f"Stages with models: {known}; or name a model id",
                )
            chosen.append(entry)
        return list(dict.fromkeys(chosen))


def _read(path: Path) -> list[dict]:
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise BadInput(f"cannot read model registry ({exc})", where=str(path)) from exc
    models = data.get("model", [])
    if not isinstance(models, list):
        raise BadInput("expected [[model]] tables", where=str(path))
    return models


@cache
def load_registry(extra: Path | None = None) -> Registry:
    """The built-in registry, with ``extra``'s entries added or replacing ours by id."""
    entries: dict[str, ModelEntry] = {}
    for path in (BUILTIN, *([extra] if extra else [])):
        defaults: set[str] = set()
        for raw in _read(path):
            try:
                entry = ModelEntry.model_validate(raw)
            except ValidationError as exc:
                first = exc.errors()[0]
                name = raw.get("id", "?") if isinstance(raw, dict) else "?"
                field = ".".join(str(p) for p in first["loc"])
                raise BadInput(
                    f"model {name}: {field}: {first['msg']}".replace(": : ", ": "),
                    where=str(path),
                ) from exc
            if entry.id in entries and path == BUILTIN:
                raise BadInput(f"model {entry.id} is listed twice", where=str(path))
            if entry.default:
                if entry.stage in defaults:
                    raise BadInput(f"two defaults for stage {entry.stage}", where=str(path))
                defaults.add(entry.stage)
                # A studio default replaces ours for that stage.
                for other in list(entries.values()):
                    if other.stage == entry.stage and other.default and other.id != entry.id:
                        entries[other.id] = other.model_copy(update={"default": False})
            entries[entry.id] = entry
    return Registry(models=entries)
