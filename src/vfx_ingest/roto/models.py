"""Which SAM checkpoints the roto stage runs, and what each can do.

The registry (data) says where the weights come from and their licence. The folders hold
transformers-format files (``config.json``, ``model.safetensors``); ``config.json``'s
``model_type`` says which network to build, so a fine-tune needs only a registry entry.
"""

from __future__ import annotations

from ..errors import BadInput

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
