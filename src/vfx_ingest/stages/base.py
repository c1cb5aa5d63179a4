"""The stage contract: a stage is data (its spec) plus one pure function.

A stage reads its inputs from the shot folder, writes its outputs through the context
(which puts them in a staging folder), reports progress, and returns a small result. It
never knows which backend runs it, never imports the CLI, rich or a cloud SDK.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from .. import atomic
from ..digest import FileDigest, sha256_bytes
from ..errors import EXIT_INTERRUPTED, BadInput, VfxIngestError
from ..manifest import FrameMap, SourceFile, SourceProbe
from ..models.registry import ModelEntry, Registry

Accelerator = Literal["none", "optional", "required"]


class DeviceNeeds(BaseModel):
    """What hardware a stage needs; the planner, cost model and remote images read this."""

    model_config = ConfigDict(frozen=True)

    accelerator: Accelerator = "none"
    min_vram_gb: float = 0.0

    def describe(self) -> str:
        if self.accelerator == "none":
            return "CPU"
        gpu = f"GPU ≥{self.min_vram_gb:g} GB" if self.min_vram_gb else "GPU"
        return f"{gpu} (CPU ok)" if self.accelerator == "optional" else gpu


class Chunking(BaseModel):
    """How a stage splits into frame-range chunks that run independently."""

    model_config = ConfigDict(frozen=True)

    overlap: int = 0
    min_frames: int = 1


class StageParams(BaseModel):
    """Base of every stage's parameters: the one source of CLI options, job schema and docs.

    Field extras: ``cache=False`` leaves a field out of the cache key (it changes how, not
    what, a stage computes); ``cli="--flag"`` names the option when the field name alone
    would clash with another stage's.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    def cache_view(self) -> dict[str, Any]:
        data = self.model_dump(mode="json")
        for name, info in type(self).model_fields.items():
            extra = info.json_schema_extra
            if isinstance(extra, dict) and extra.get("cache") is False:
                data.pop(name, None)
        return data


class StageResult(BaseModel):
    """What a stage hands back besides its files."""

    frames: FrameMap | None = None
    stats: dict[str, Any] = {}


class Cancelled(VfxIngestError):
    """The run was cancelled (Ctrl-C locally, a cancel request remotely)."""

    exit_code = EXIT_INTERRUPTED


ProgressFn = Callable[[int, int, str], None]


@dataclass
class StageContext:
    """Everything a stage may touch. Built by the worker; the same on every backend."""

    stage: str
    shot_root: Path
    staging: Path
    device: str = "cpu"
    source: SourceFile | None = None
    source_path: Path | None = None
    frames: FrameMap | None = None
    # Digest of each input pass present: every ``needs`` and the ``uses`` the shot has.
    inputs: dict[str, str] = field(default_factory=dict)
    # A chunk job covers only these frame numbers (first, last), overlap included.
    frame_range: tuple[int, int] | None = None
    models: dict[str, Path] = field(default_factory=dict)
    # The registry the models came from (the studio's included; None: the built-in one).
    model_registry: Registry | None = None
    on_progress: ProgressFn = lambda done, total, message: None
    cancel_event: threading.Event = field(default_factory=threading.Event)
    written: dict[str, FileDigest] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def input_dir(self, name: str) -> Path:
        return self.shot_root / name

    def plate_numbers(self) -> list[int]:
        """The plate's frame numbers: the manifest's, else the files' (may be empty)."""
        from ..frames import frame_number

        if self.frames is not None:
            return self.frames.numbers()
        plate = self.input_dir("plate")
        files = [p for ext in ("png", "exr") for p in plate.glob(f"plate.*.{ext}")]
        return sorted({n for p in files if (n := frame_number(p.name)) is not None})

    def has_input(self, name: str) -> bool:
        """True when the pass is an input of this run (an optional one the shot has)."""
        return name in self.inputs

    def model_dir(self, model_id: str) -> Path:
        """The local folder of a model this stage loads; BadInput when the job did not
        bring it (the planner's ``models`` check makes that rare)."""
        directory = self.models.get(model_id)
        if directory is None:
            raise BadInput(
                f"the {model_id} weights are not available to this run",
                fix=f"Run `vfx-ingest models sync {model_id}`",
            )
        return Path(directory)

    def output_dir(self, name: str) -> Path:
        path = self.staging / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    def output_done(self, pass_name: str, filename: str) -> bool:
        """True when a previous, interrupted run of this same stage already wrote the file."""
        return (self.staging / pass_name / filename).is_file()

    def write_bytes(self, pass_name: str, filename: str, data: bytes) -> None:
        """Write one output file atomically and remember its digest (no second read)."""
        path = self.output_path(pass_name, filename)
        atomic.write_bytes(path, data)
        st = path.stat()
        digest = FileDigest(sha256=sha256_bytes(data), size=st.st_size, mtime_ns=st.st_mtime_ns)
        with self._lock:
            self.written[f"{pass_name}/{filename}"] = digest

    def output_path(self, pass_name: str, filename: str) -> Path:
        """A final path for writers that need a filename (``filename`` may name a
        subfolder, which is made); wrap writes in ``atomic.target``."""
        path = self.output_dir(pass_name) / filename
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def progress(self, done: int, total: int, message: str = "") -> None:
        self.check_cancelled()
        self.on_progress(done, total, message)

    def check_cancelled(self) -> None:
        if self.cancel_event.is_set():
            raise Cancelled(f"{self.stage} was cancelled")


StageFn = Callable[[StageContext, Any], StageResult]


@dataclass(frozen=True)
class PlanView:
    """The shot as the planner sees it before any work, for a stage's ``settle`` hook."""

    shot_root: Path
    # Params of the stage's last done run on this shot (None: it has none).
    previous: dict[str, Any] | None = None
    # The shot's frame map as it stands (None: not ingested yet).
    frames: FrameMap | None = None
    # The probed source and every stage's params in this run (a stage may work out what
    # an upstream stage will make, e.g. the plate's frame numbers).
    probe: SourceProbe | None = None
    params: dict[str, StageParams] = field(default_factory=dict)
    # The model registry the settings name (the built-in one plus a studio's).
    model_registry: Registry | None = None


@dataclass(frozen=True)
class StageSpec:
    """A stage, declared as data. The CLI, planner, cost model and images derive from it."""

    name: str
    version: str
    summary: str
    needs: tuple[str, ...]
    produces: tuple[str, ...]
    params: type[StageParams]
    run: StageFn
    # Optional inputs: passes the stage uses when the shot has them (e.g. roto masks for
    # the camera). Their digests join the cache key when present; they are never run just
    # for this stage, but run first when the same run asks for them.
    uses: tuple[str, ...] = ()
    device: DeviceNeeds = field(default_factory=DeviceNeeds)
    models: tuple[str, ...] = ()
    model_param: str | None = None
    chunking: Chunking | None = None
    # Whether these params may run in chunks (None: whenever ``chunking`` says); e.g. roto's
    # text prompts detect anew in every chunk, its clicks live on their frames only.
    chunkable: Callable[[Any], bool] | None = None
    # Checks that need the probed source (e.g. a frame range inside the clip); run by the
    # planner before any work, so bad input fails fast with nothing written.
    preflight: Callable[[Any, SourceProbe], None] | None = None
    # Checks a selected model's registry entry is one the stage can load (BadInput if
    # not); run by the planner with the registry the settings name, before any work.
    model_check: Callable[[ModelEntry], Any] | None = None
    # Params that depend on the shot (e.g. roto's prompts: a run without them reuses the
    # last pass's, so it stays cached): given the params and the shot, the params to run
    # with; BadInput stops the run before anything is written.
    settle: Callable[[Any, PlanView], Any] | None = None
    # Fan-out: a stage with ``chunking`` may run as independent jobs over frame ranges
    # (``StageContext.frame_range``, overlap included); ``stitch`` then merges the chunks'
    # staging folders, in frame order, into the context's own staging (e.g. depth aligns
    # each chunk's scale and shift on the overlapping frames).
    stitch: Callable[[StageContext, list[Path]], None] | None = None
    # Frame numbers of its input passes a chunk job reads outside its own range, given the
    # plate's frame numbers and the chunk's (first, last); None: nothing outside. Remote
    # runners send those frames too (depth reads keyframes from before and after).
    chunk_context: Callable[[list[int], tuple[int, int]], list[int]] | None = None
    # Extras of this package (pyproject's optional dependencies) the stage's code imports,
    # e.g. ("ml",) for torch: remote worker images install exactly these.
    extras: tuple[str, ...] = ()

    def selected_models(self, params: StageParams) -> tuple[str, ...]:
        chosen = getattr(params, self.model_param) if self.model_param else None
        # No choice yet (e.g. roto's model follows its prompts, once settled): any of them.
        return (chosen,) if chosen else self.models
