"""Which Video Depth Anything checkpoints the depth stage runs, and loading one.

The model registry (``vfx_ingest.models``, data) says where weights come from, their files
and their licence; a registry entry's family says what the values mean. The official files
are plain state dicts that load into ``networks.vda.VideoDepthAnything`` with
``strict=True``; which encoder (ViT-S/B/L) is read off the checkpoint itself, so in-house
fine-tunes need no more than a registry entry. The metric models share the layout and
differ only in their output (depth in metres, not relative disparity) and so in how
windows are joined.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from ..errors import BadInput

if TYPE_CHECKING:
    from ..models.registry import ModelEntry
    from ..networks.vda import VideoDepthAnything

# What the values of a depth EXR are. VDA's relative models predict affine-invariant
# inverse depth (disparity: larger is nearer, unknown scale and shift); the metric models
# predict depth along the optical axis in metres.
Values = Literal["relative_disparity", "metric_depth_m"]
METRIC: Values = "metric_depth_m"

FAMILIES: dict[str, Values] = {
    "video-depth-anything": "relative_disparity",
    "video-depth-anything-metric": "metric_depth_m",
}
# The DINOv2 width of each encoder, as the checkpoint's class token shows it.
ENCODERS = {384: "vits", 768: "vitb", 1024: "vitl"}
# The registry's Video Depth Anything entries (a test keeps this list and the registry in
# step); what `vfx-ingest stages` lists and remote images bake.
MODEL_IDS = (
    "vda-small",
    "vda-base",
    "vda-large",
    "vda-metric-small",
    "vda-metric-base",
    "vda-metric-large",
)
DEFAULT_MODEL = "vda-small"


@dataclass(frozen=True)
class DepthModel:
    id: str
    filename: str
    values: Values
    license: str
    commercial: bool

    @property
    def metric(self) -> bool:
        return self.values == METRIC

    def license_note(self) -> str | None:
        """One line for the user when the weights may not be used commercially."""
        if self.commercial:
            return None
        return f"{self.id} weights are {self.license}: non-commercial use only"


def depth_model(entry: ModelEntry) -> DepthModel:
    """The depth stage's view of a registry entry; BadInput for a model of another kind."""
    values = FAMILIES.get(entry.family) if entry.stage == "depth" else None
    checkpoints = [f.path for f in entry.files if f.path.endswith((".pth", ".pt"))]
    if values is None or len(checkpoints) != 1:
        raise BadInput(
            f"model {entry.id} is not a Video Depth Anything checkpoint",
            fix=f"Choose one of {', '.join(MODEL_IDS)} (see `vfx-ingest models list`)",
        )
    return DepthModel(
        id=entry.id,
        filename=checkpoints[0],
        values=values,
        license=entry.license,
        commercial=entry.commercial,
    )


def load_network(model: DepthModel, directory: Path) -> VideoDepthAnything:
    """Build the network and load the checkpoint strictly, on the CPU, in eval mode."""
    import torch

    from ..networks.vda import VideoDepthAnything

    path = Path(directory) / model.filename
    if not path.is_file():
        raise BadInput(
            f"{model.id}: {model.filename} is missing",
            where=str(directory),
            fix=f"Run `vfx-ingest models sync {model.id}`",
        )
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a damaged or foreign file
        raise BadInput(
            f"cannot read the {model.id} checkpoint ({type(exc).__name__}: {exc})",
            where=str(path),
            fix=f"Run `vfx-ingest models verify {model.id}`",
        ) from exc
    token = state.get("pretrained.cls_token") if isinstance(state, dict) else None
    encoder = ENCODERS.get(int(token.shape[-1])) if isinstance(token, torch.Tensor) else None
    if encoder is None:
        raise BadInput(
            f"the {model.id} checkpoint is not a Video Depth Anything state dict",
            where=str(path),
            fix=f"Check that it is {model.filename} of {model.id}",
        )
    network = VideoDepthAnything(encoder)
    try:
        network.load_state_dict(state, strict=True)
    except (RuntimeError, TypeError) as exc:
        first = str(exc).strip().splitlines()[0]
        raise BadInput(
            f"the checkpoint does not fit {model.id} ({encoder}): {first}",
            where=str(path),
            fix=f"Check that it is {model.filename} of {model.id}",
        ) from exc
    return network.eval()
