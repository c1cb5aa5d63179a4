"""Which SAM checkpoints the roto stage runs, and what each can do.

The registry (data) says where the weights come from and their licence. The folders hold
transformers-format files (``config.json``, ``model.safetensors``); ``config.json``'s
``model_type`` says which network to build, so a fine-tune needs only a registry entry.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import BadInput

if TYPE_CHECKING:
    from .pixels import InputSpec

SAM2_IDS = (
    "sam2.1-hiera-tiny",
    "sam2.1-hiera-small",
    "sam2.1-hiera-base-plus",
    "sam2.1-hiera-large",
)
SAM3_IDS = ("sam3",)
# The registry's roto entries (a test keeps this list and the registry in step).
MODEL_IDS = (*SAM2_IDS, *SAM3_IDS)
DEFAULT_CLICK_MODEL = "sam2.1-hiera-base-plus"
DEFAULT_TEXT_MODEL = "sam3"


def check_model_for(model_id: str, *, text: bool) -> None:
    """BadInput when ``model_id`` cannot take these prompts (text needs SAM 3)."""
    if model_id not in MODEL_IDS:
        raise BadInput(
            f"roto model {model_id!r} is not a SAM checkpoint",
            fix=f"Choose one of {', '.join(MODEL_IDS)} (see `vfx-ingest models list`)",
        )
    if text and model_id not in SAM3_IDS:
        raise BadInput(
            f"text prompts need SAM 3, and --roto-model is {model_id}",
            fix=f"Use --roto-model {DEFAULT_TEXT_MODEL}, or clicks/boxes with {model_id}",
        )


@dataclass(frozen=True)
class Network:
    """A loaded checkpoint and what running it takes."""

    model: Any
    session_class: type
    input: InputSpec
    dtype: Any  # torch.dtype
    text: bool  # Sam3VideoModel (text prompts) rather than a tracker (clicks, boxes)


def choose_dtype(precision: str, device: str) -> Any:
    """auto: bf16 on CUDA (what SAM 2 and 3 were trained in), fp32 elsewhere."""
    import torch

    if precision == "auto":
        return torch.bfloat16 if str(device).startswith("cuda") else torch.float32
    return {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}[precision]


def load_network(
    model_id: str, directory: Path, *, text: bool, device: str, precision: str
) -> Network:
    """The network ``config.json`` names, for text prompts or for clicks, in eval mode."""
    config_path = directory / "config.json"
    try:
        model_type = json.loads(config_path.read_text()).get("model_type")
    except (OSError, ValueError) as exc:
        raise BadInput(
            f"cannot read {model_id}'s config.json ({exc})",
            where=str(directory),
            fix=f"Run `vfx-ingest models sync {model_id}`",
        ) from exc
    from transformers.models.sam2_video import modeling_sam2_video as sam2
    from transformers.models.sam3_tracker_video import modeling_sam3_tracker_video as tracker3
    from transformers.models.sam3_video import modeling_sam3_video as video3

    choices: dict[tuple[Any, bool], tuple[type, type]] = {
        ("sam2_video", False): (sam2.Sam2VideoModel, sam2.Sam2VideoInferenceSession),
        ("sam3_video", True): (video3.Sam3VideoModel, video3.Sam3VideoInferenceSession),
        ("sam3_video", False): (
            tracker3.Sam3TrackerVideoModel,
            tracker3.Sam3TrackerVideoInferenceSession,
        ),
        ("sam3_tracker_video", False): (
            tracker3.Sam3TrackerVideoModel,
            tracker3.Sam3TrackerVideoInferenceSession,
        ),
    }
    if (model_type, text) not in choices:
        wants = "SAM 3 (sam3_video)" if text else "SAM 2.1 or SAM 3"
        raise BadInput(
            f"{model_id} is a {model_type!r} checkpoint; these prompts need {wants}",
            where=str(config_path),
            fix=f"Choose one of {', '.join(SAM3_IDS if text else MODEL_IDS)}",
        )
    model_class, session_class = choices[(model_type, text)]
    dtype = choose_dtype(precision, device)
    try:
        model = model_class.from_pretrained(directory, dtype=dtype)
    except (OSError, ValueError, RuntimeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise BadInput(
            f"cannot load {model_id}: {first}",
            where=str(directory),
            fix=f"Run `vfx-ingest models verify {model_id}`",
        ) from exc
    from .pixels import sam2_input, sam3_input

    model = model.to(device).eval()
    size = int(_image_size(model.config, text))
    spec = sam2_input(size) if model_type == "sam2_video" else sam3_input(size)
    return Network(model, session_class, spec, dtype, text)


def _image_size(config: Any, text: bool) -> int:
    if text:
        return config.detector_config.vision_config.image_size
    size = config.image_size
    return size[0] if isinstance(size, (list, tuple)) else size
