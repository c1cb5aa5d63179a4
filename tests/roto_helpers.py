"""Shared by the roto tests: tiny random SAM checkpoints and plates with moving discs.

The checkpoints are transformers' own SAM 2 video network at toy sizes (128x128 input,
hidden size 128, memory channels 64, two Hiera blocks with global attention, neither the
first block of its stage), seeded, saved with ``save_pretrained`` in the file layout of
the Hub repositories, so they load through the same code as the real weights.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import numpy as np

SIZE = 128  # network input side
HIDDEN = 128
SAM2_FILES = ("config.json", "model.safetensors", "processor_config.json")


def tiny_sam2_config():  # transformers' Sam2VideoConfig
    from transformers import Sam2VideoConfig

    s = SIZE
    return Sam2VideoConfig(
        vision_config={
            "backbone_config": {
                "model_type": "sam2_hiera_det_model",
                "hidden_size": 32,
                "image_size": [s, s],
                "blocks_per_stage": [1, 2, 2, 1],
                "embed_dim_per_stage": [32, 64, 128, 256],
                "num_attention_heads_per_stage": [1, 1, 2, 2],
                "window_size_per_stage": [8, 4, 4, 2],
                "global_attention_blocks": [2, 4],
                "window_positional_embedding_background_size": [4, 4],
            },
            "backbone_channel_list": [256, 128, 64, 32],
            "backbone_feature_sizes": [[s // 4, s // 4], [s // 8, s // 8], [s // 16, s // 16]],
            "fpn_hidden_size": HIDDEN,
        },
        prompt_encoder_config={"hidden_size": HIDDEN, "image_size": s, "patch_size": 16},
        mask_decoder_config={
            "hidden_size": HIDDEN,
            "mlp_dim": 256,
            "num_attention_heads": 4,
            "iou_head_hidden_dim": HIDDEN,
        },
        image_size=s,
        memory_attention_hidden_size=HIDDEN,
        memory_attention_num_layers=1,
        memory_attention_feed_forward_hidden_size=256,
        memory_attention_rope_feat_sizes=[s // 16, s // 16],
        memory_encoder_hidden_size=HIDDEN,
        memory_encoder_output_channels=64,
        mask_downsampler_embed_dim=HIDDEN,
        memory_fuser_embed_dim=HIDDEN,
        memory_fuser_intermediate_dim=256,
        memory_fuser_num_layers=1,
    )


@cache
def tiny_sam2_files() -> dict[str, bytes]:
    """The checkpoint's files (name -> bytes), built once per session."""
    import tempfile

    import torch
    from transformers import Sam2VideoModel

    torch.manual_seed(0)
    model = Sam2VideoModel(tiny_sam2_config()).eval()
    with tempfile.TemporaryDirectory() as folder:
        model.save_pretrained(folder)
        files = {name: (Path(folder) / name).read_bytes() for name in SAM2_FILES[:2]}
    files["processor_config.json"] = json.dumps({"processor_class": "Sam2VideoProcessor"}).encode()
    return files


def write_sam2(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in tiny_sam2_files().items():
        (folder / name).write_bytes(data)
    return folder


def disc_frames(
    count: int, width: int, height: int, *, radius: int = 10, start: tuple[int, int] = (20, 20)
) -> list[np.ndarray]:
    """A textured background with a bright disc moving right and down, 2 px per frame."""
    rng = np.random.default_rng(7)
    background = (rng.random((height, width, 3)) * 90 + 40).astype(np.uint8)
    yy, xx = np.mgrid[:height, :width]
    frames = []
    for i in range(count):
        cx, cy = start[0] + 2 * i, start[1] + i
        frame = background.copy()
        frame[(xx - cx) ** 2 + (yy - cy) ** 2 <= radius**2] = (240, 200, 40)
        frames.append(frame)
    return frames


def disc_centre(index: int, start: tuple[int, int] = (20, 20)) -> tuple[int, int]:
    return start[0] + 2 * index, start[1] + index


def install_sam2(
    models_dir: Path, registry: Path, model_id: str = "sam2.1-hiera-base-plus"
) -> Path:
    """Put the tiny checkpoint where the store keeps ``model_id`` and list it in a studio
    registry (replacing the built-in entry) with each file's digest, so a run finds it
    through the registry and the store and checks it, as it does downloaded weights."""
    import hashlib

    from model_servers import registry_toml

    folder = write_sam2(models_dir / model_id)
    files = [
        {"path": name, "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
        for name, data in tiny_sam2_files().items()
    ]
    entry = {
        "id": model_id,
        "stage": "roto",
        "family": "sam2.1",
        "variant": "tiny-random",
        "license": "Apache-2.0",
        "commercial": True,
        # Never contacted: the files are in place and their digests are given.
        "sources": ["https://models.invalid/sam2/"],
        "files": files,
    }
    registry.write_text(registry_toml([entry]))
    return folder
