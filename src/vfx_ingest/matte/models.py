"""Which matting weights the matte stage runs, and loading them.

The model registry (data) says where the files come from and their licence; a registry
entry's family says what kind of network it is. VitMatte (``hustvl/vitmatte-*``) is a
Transformers checkpoint (``config.json`` + ``model.safetensors``) refining a trimap; Robust
Video Matting is a TorchScript file that needs no source code of its own and mattes people
with no mask at all. MatAnyone stays in the registry for reference but is not run here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from ..errors import BadInput

if TYPE_CHECKING:
    from ..models.registry import ModelEntry, Registry

Kind = Literal["vitmatte", "rvm"]
FAMILIES: dict[str, Kind] = {"vitmatte": "vitmatte", "robust-video-matting": "rvm"}
# The registry's runnable matte entries (a test keeps this list and the registry in step).
MODEL_IDS = ("vitmatte-small", "vitmatte-base", "rvm-mobilenetv3", "rvm-resnet50")
DEFAULT_MODEL = "vitmatte-small"
COPYLEFT = ("GPL", "AGPL", "LGPL")


@dataclass(frozen=True)
class MatteModel:
    id: str
    kind: Kind
    files: tuple[str, ...]
    license: str
    commercial: bool
    notes: str = ""

    @property
    def needs_roto(self) -> bool:
        """VitMatte refines roto masks; RVM finds people on its own."""
        return self.kind == "vitmatte"

    def license_note(self) -> str | None:
        """One line for the user when the weights' licence restricts what they may do."""
        if not self.commercial:
            return f"{self.id} weights are {self.license}: non-commercial use only"
        if self.license.startswith(COPYLEFT):
            return f"{self.id} weights are {self.license}: commercial use allowed, copyleft"
        return None


def matte_model(entry: ModelEntry) -> MatteModel:
    """The matte stage's view of a registry entry; BadInput for one it cannot run."""
    kind = FAMILIES.get(entry.family) if entry.stage == "matte" else None
    if kind is None:
        why = f" ({entry.notes})" if entry.stage == "matte" and entry.notes else ""
        raise BadInput(
            f"model {entry.id} is not runnable by the matte stage{why}",
            fix=f"Choose one of {', '.join(MODEL_IDS)} (see `vfx-ingest models list`)",
        )
    return MatteModel(
        id=entry.id,
        kind=kind,
        files=tuple(f.path for f in entry.files),
        license=entry.license,
        commercial=entry.commercial,
        notes=entry.notes,
    )


def find_model(model_id: str, registry: Registry) -> MatteModel:
    """``registry``'s entry for ``model_id`` as a model the matte stage runs (BadInput if
    not); the stage passes its context's registry (a studio's included)."""
    return matte_model(registry.get(model_id))


def _require(model: MatteModel, directory: Path, suffix: str) -> Path:
    names = [f for f in model.files if f.endswith(suffix)]
    path = Path(directory) / (names[0] if names else f"*{suffix}")
    if not path.is_file():
        raise BadInput(
            f"{model.id}: {path.name} is missing",
            where=str(directory),
            fix=f"Run `vfx-ingest models sync {model.id}`",
        )
    return path


def _unreadable(model: MatteModel, path: Path, exc: Exception) -> BadInput:
    first = (str(exc).strip().splitlines() or [""])[0]
    return BadInput(
        f"cannot read the {model.id} weights ({type(exc).__name__}: {first})",
        where=str(path),
        fix=f"Run `vfx-ingest models verify {model.id}`",
    )


def load_vitmatte(model: MatteModel, directory: Path) -> Any:
    """``VitMatteForImageMatting`` from the model folder, on the CPU, in eval mode."""
    from transformers import VitMatteForImageMatting

    _require(model, directory, "config.json")
    weights = _require(model, directory, ".safetensors")
    try:
        network = VitMatteForImageMatting.from_pretrained(str(directory))
    except Exception as exc:  # transformers raises many types for a foreign folder
        raise _unreadable(model, weights, exc) from exc
    return network.eval()


def load_rvm(model: MatteModel, directory: Path) -> Any:
    """The TorchScript module, on the CPU; RVM's own code is not needed."""
    import torch

    path = _require(model, directory, ".torchscript")
    try:
        return torch.jit.load(str(path), map_location="cpu").eval()
    except Exception as exc:  # torch.jit raises RuntimeError and friends
        raise _unreadable(model, path, exc) from exc
