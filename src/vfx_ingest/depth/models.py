"""The Video Depth Anything checkpoints the depth stage can run, and loading one.

The official files are plain state dicts that load into ``networks.vda.VideoDepthAnything``
with ``strict=True``; the metric models share the layout and differ only in what their
output means (depth in metres, not relative disparity) and so in how windows are joined.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from ..errors import BadInput

if TYPE_CHECKING:
    from ..networks.vda import VideoDepthAnything

# What the values of a depth EXR are. VDA's relative models predict affine-invariant
# inverse depth (disparity: larger is nearer, unknown scale and shift); the metric models
# predict depth along the optical axis in metres.
Values = Literal["relative_disparity", "metric_depth_m"]

APACHE = "Apache-2.0"
NON_COMMERCIAL = "CC-BY-NC-4.0"


@dataclass(frozen=True)
class DepthModel:
    id: str
    encoder: Literal["vits", "vitb", "vitl"]
    filename: str
    values: Values
    license: str
    repo: str

    @property
    def metric(self) -> bool:
        return self.values == "metric_depth_m"

    @property
    def commercial_use(self) -> bool:
        return self.license != NON_COMMERCIAL

    def license_note(self) -> str | None:
        """One line for the user when the weights may not be used commercially."""
        if self.commercial_use:
            return None
        return (
            f"{self.id} weights are {self.license}: non-commercial use only "
            "(vda-small and vda-metric-small are Apache-2.0)"
        )


def _model(id_: str, encoder: str, size: str, license_: str, *, metric: bool) -> DepthModel:
    prefix = "metric_" if metric else ""
    hub = f"depth-anything/{'Metric-' if metric else ''}Video-Depth-Anything-{size}"
    return DepthModel(
        id=id_,
        encoder=encoder,  # type: ignore[arg-type]
        filename=f"{prefix}video_depth_anything_{encoder}.pth",
        values="metric_depth_m" if metric else "relative_disparity",
        license=license_,
        repo=hub,
    )


# Licences as stated on each Hugging Face model card: the small models are Apache-2.0,
# base and large are CC-BY-NC-4.0.
MODELS: dict[str, DepthModel] = {
    m.id: m
    for m in (
        _model("vda-small", "vits", "Small", APACHE, metric=False),
        _model("vda-base", "vitb", "Base", NON_COMMERCIAL, metric=False),
        _model("vda-large", "vitl", "Large", NON_COMMERCIAL, metric=False),
        _model("vda-metric-small", "vits", "Small", APACHE, metric=True),
        _model("vda-metric-base", "vitb", "Base", NON_COMMERCIAL, metric=True),
        _model("vda-metric-large", "vitl", "Large", NON_COMMERCIAL, metric=True),
    )
}
DEFAULT_MODEL = "vda-small"


def get_model(model_id: str) -> DepthModel:
    try:
        return MODELS[model_id]
    except KeyError:
        raise BadInput(
            f"unknown depth model {model_id!r}",
            fix=f"Choose one of {', '.join(MODELS)}",
        ) from None


def checkpoint_path(model: DepthModel, directory: Path) -> Path:
    """The checkpoint file inside a model's local directory."""
    path = Path(directory) / model.filename
    if not path.is_file():
        raise BadInput(
            f"{model.id}: {model.filename} is missing",
            where=str(directory),
            fix=f"Download {model.repo} into the model cache, or point the cache at it",
        )
    return path


def load_network(model: DepthModel, directory: Path) -> VideoDepthAnything:
    """Build the network and load the official checkpoint strictly, on the CPU, in eval mode."""
    import torch

    from ..networks.vda import VideoDepthAnything

    path = checkpoint_path(model, directory)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a damaged or foreign file
        raise BadInput(
            f"cannot read the {model.id} checkpoint ({type(exc).__name__}: {exc})",
            where=str(path),
            fix="Download it again",
        ) from exc
    network = VideoDepthAnything(model.encoder)
    try:
        network.load_state_dict(state, strict=True)
    except (RuntimeError, TypeError) as exc:
        first = str(exc).strip().splitlines()[0]
        raise BadInput(
            f"the checkpoint does not fit {model.id} ({model.encoder}): {first}",
            where=str(path),
            fix=f"Check that the file is {model.repo}'s {model.filename}",
        ) from exc
    return network.eval()
