"""Shared by the roto tests: tiny random SAM checkpoints and plates with moving discs.

The checkpoints are transformers' own SAM 2 video and SAM 3 video networks at toy sizes
(SAM 2: 128x128 input, hidden size 128, memory channels 64, two Hiera blocks with global
attention, neither the first block of its stage; SAM 3: see ``tiny_sam3_config``), seeded,
saved with ``save_pretrained`` in the file layout of the Hub repositories, so they load
through the same code as the real weights.
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


def saved(model, processor: str) -> dict[str, bytes]:
    """A model's files as ``save_pretrained`` writes them, plus a processor config."""
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        model.save_pretrained(folder)
        files = {name: (Path(folder) / name).read_bytes() for name in SAM2_FILES[:2]}
    files["processor_config.json"] = json.dumps({"processor_class": processor}).encode()
    return files


@cache
def tiny_sam2_files() -> dict[str, bytes]:
    """The checkpoint's files (name -> bytes), built once per session."""
    import torch
    from transformers import Sam2VideoModel

    torch.manual_seed(0)
    return saved(Sam2VideoModel(tiny_sam2_config()).eval(), "Sam2VideoProcessor")


def write_files(folder: Path, files: dict[str, bytes]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
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


def tiny_sam3_config():  # transformers' Sam3VideoConfig
    """SAM 3 (detector and tracker) at toy sizes: 112x112 input (8x8 patches of 14), hidden
    size 128, 8 queries, at most 3 instances, no hot start (random detections flicker, and
    the hot start would drop them all)."""
    from transformers import Sam3VideoConfig

    s, h = 112, HIDDEN
    vit = {
        "model_type": "sam3_vit_model",
        "hidden_size": h,
        "intermediate_size": 256,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "image_size": s,
        "patch_size": 14,
        "window_size": 4,
        "global_attn_indexes": [1],
        "pretrain_image_size": 56,
    }
    p = s // 14
    vision = {
        "backbone_config": vit,
        "fpn_hidden_size": h,
        "backbone_feature_sizes": [[4 * p, 4 * p], [2 * p, 2 * p], [p, p]],
    }
    small = {"hidden_size": h, "num_layers": 1, "num_attention_heads": 2, "intermediate_size": 256}
    detector = {
        "vision_config": vision,
        "text_config": {
            "vocab_size": len(VOCAB),
            "hidden_size": h,
            "intermediate_size": 256,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "max_position_embeddings": 32,
            "projection_dim": h,
            "bos_token_id": 0,
            "eos_token_id": 1,
        },
        "geometry_encoder_config": small,
        "detr_encoder_config": small,
        "detr_decoder_config": {**small, "num_queries": 8},
        "mask_decoder_config": {"hidden_size": h, "num_attention_heads": 2},
    }
    tracker = {
        "vision_config": vision,
        "prompt_encoder_config": {"hidden_size": h, "image_size": s, "patch_size": 14},
        "mask_decoder_config": {
            "hidden_size": h,
            "mlp_dim": 256,
            "num_attention_heads": 4,
            "iou_head_hidden_dim": h,
        },
        "memory_attention_hidden_size": h,
        "memory_attention_num_layers": 1,
        "memory_attention_feed_forward_hidden_size": 256,
        "memory_attention_rope_feat_sizes": [p, p],
        "memory_encoder_hidden_size": h,
        "memory_encoder_output_channels": 64,
        "mask_downsampler_embed_dim": h,
        "memory_fuser_embed_dim": h,
        "memory_fuser_intermediate_dim": 256,
        "memory_fuser_num_layers": 1,
        "image_size": s,
    }
    return Sam3VideoConfig(
        detector_config=detector,
        tracker_config=tracker,
        low_res_mask_size=4 * p,
        new_det_thresh=0.0,
        max_num_objects=3,
        hotstart_delay=0,
        hotstart_unmatch_thresh=0,
        hotstart_dup_thresh=0,
    )


# A word-level stand-in for SAM 3's CLIP tokenizer, in the same tokenizer.json format.
VOCAB = {"<|startoftext|>": 0, "<|endoftext|>": 1, "[UNK]": 2, "person": 3, "car": 4, "ball": 5}


def tiny_tokenizer_json() -> bytes:
    from tokenizers import Tokenizer, models, pre_tokenizers, processors

    tokenizer = Tokenizer(models.WordLevel(VOCAB, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer.post_processor = processors.TemplateProcessing(
        single="<|startoftext|> $A <|endoftext|>",
        special_tokens=[("<|startoftext|>", 0), ("<|endoftext|>", 1)],
    )
    return tokenizer.to_str().encode()


@cache
def tiny_sam3_files() -> dict[str, bytes]:
    import torch
    from transformers import Sam3VideoModel

    torch.manual_seed(0)
    files = saved(Sam3VideoModel(tiny_sam3_config()).eval(), "Sam3VideoProcessor")
    return {**files, "tokenizer.json": tiny_tokenizer_json()}


def install_models(models_dir: Path, registry: Path, *, text: bool = False) -> None:
    """Put the tiny checkpoints where the store keeps ``sam2.1-hiera-base-plus`` (and, with
    ``text``, ``sam3``) and list them in a studio registry replacing the built-in entries,
    with each file's digest: a run finds and checks them through the registry and the
    store, as it does downloaded weights."""
    import hashlib

    from model_servers import registry_toml

    chosen = {"sam2.1-hiera-base-plus": ("sam2.1", tiny_sam2_files())}
    if text:
        chosen["sam3"] = ("sam3", tiny_sam3_files())
    entries = []
    for model_id, (family, files) in chosen.items():
        write_files(models_dir / model_id, files)
        entries.append(
            {
                "id": model_id,
                "stage": "roto",
                "family": family,
                "variant": "tiny-random",
                "license": "Apache-2.0" if family == "sam2.1" else "SAM License",
                "commercial": True,
                "gated": family == "sam3",
                # Never contacted: the files are in place and their digests are given.
                "sources": [f"https://models.invalid/{model_id}/"],
                "files": [
                    {"path": name, "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
                    for name, data in files.items()
                ],
            }
        )
    registry.write_text(registry_toml(entries))
