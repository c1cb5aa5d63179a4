"""Video Depth Anything network: checkpoint layout and golden forward pass.

Fixtures come from the reference implementation (see fixtures/vda/README.md): the
state-dict layout of the official checkpoints and one fp32 forward pass of ``vits`` with all
tensors filled by a deterministic rule, which ``fill_like_fixture`` reproduces.
"""

from __future__ import annotations

import json
import math
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch

from vfx_ingest.networks.dinov2 import PRETRAIN_GRID
from vfx_ingest.networks.vda import CONFIGS, MAX_FRAMES, VideoDepthAnything

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "vda"
ENCODERS = ["vits", "vitb", "vitl"]
GOLDEN_ATOL = 1e-4


def fixture_path(name: str) -> Path:
    path = FIXTURES / name
    if not path.is_file():
        pytest.fail(f"missing VDA fixture {path} (tests/fixtures/vda is part of the repository)")
    return path


def load_layout(encoder: str) -> dict:
    return json.loads(fixture_path(f"vda_{encoder}_state_dict.json").read_text())


def fill_like_fixture(model: torch.nn.Module) -> torch.nn.Module:
    """Overwrite every floating tensor of the state dict with the fixture's fill rule."""
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if not tensor.is_floating_point():
                continue
            gen = torch.Generator().manual_seed(zlib.crc32(name.encode()))
            r = torch.randn(tensor.shape, generator=gen, dtype=torch.float32)
            if r.dim() >= 2:
                value = r / math.sqrt(math.prod(tensor.shape[1:]))
            elif name.endswith((".weight", ".gamma")):
                value = 1.0 + 0.1 * r
            else:
                value = 0.02 * r
            tensor.copy_(value)  # state_dict tensors share storage with the module
    return model


def meta_model(encoder: str) -> VideoDepthAnything:
    with torch.device("meta"):  # layout only: no memory, builds vitl instantly
        return VideoDepthAnything(encoder)


# --- checkpoint layout -------------------------------------------------------------------


@pytest.mark.parametrize("encoder", ENCODERS)
def test_config_matches_fixture(encoder: str) -> None:
    assert CONFIGS[encoder] == load_layout(encoder)["config"]


@pytest.mark.parametrize("encoder", ENCODERS)
def test_state_dict_names_and_shapes(encoder: str) -> None:
    layout = load_layout(encoder)
    expected = {name: tuple(shape) for name, shape, _dtype in layout["tensors"]}
    ours = {name: tuple(t.shape) for name, t in meta_model(encoder).state_dict().items()}
    assert set(ours) == set(expected), (
        f"missing: {sorted(set(expected) - set(ours))[:5]}, "
        f"unexpected: {sorted(set(ours) - set(expected))[:5]}"
    )
    wrong = {n: (ours[n], expected[n]) for n in expected if ours[n] != expected[n]}
    assert not wrong, f"shape mismatches (ours, reference): {wrong}"
    assert {d for _n, _s, d in layout["tensors"]} == {"float32"}


@pytest.mark.parametrize("encoder", ENCODERS)
def test_parameter_count(encoder: str) -> None:
    model = meta_model(encoder)
    state_numel = sum(t.numel() for t in model.state_dict().values())
    assert state_numel == load_layout(encoder)["num_params"]
    # The count includes the temporal position tables, which are buffers, not parameters.
    pe_numel = sum(b.numel() for n, b in model.named_buffers() if n.endswith(".pe"))
    assert sum(p.numel() for p in model.parameters()) + pe_numel == state_numel


@pytest.mark.parametrize("encoder", ENCODERS)
def test_strict_load_of_fixture_shaped_state_dict(encoder: str) -> None:
    layout = load_layout(encoder)
    state = {
        name: torch.empty(shape, dtype=getattr(torch, dtype), device="meta")
        for name, shape, dtype in layout["tensors"]
    }
    model = meta_model(encoder)
    result = model.load_state_dict(state, strict=True)
    assert not result.missing_keys
    assert not result.unexpected_keys


def test_strict_load_really_loads_values() -> None:
    layout = load_layout("vits")
    state = {name: torch.full(shape, 0.5) for name, shape, _dtype in layout["tensors"]}
    model = VideoDepthAnything("vits")
    model.load_state_dict(state, strict=True)
    # pos_encoder.pe is a persistent buffer: the checkpoint's table must replace the default.
    pe = model.head.motion_modules[0].temporal_transformer.transformer_blocks[0]
    assert torch.all(pe.attention_blocks[1].pos_encoder.pe == 0.5)
    assert torch.all(model.pretrained.pos_embed == 0.5)


# --- golden forward pass (vits, fp32, CPU) ----------------------------------------------


@pytest.fixture(scope="module")
def golden() -> dict[str, np.ndarray]:
    with np.load(fixture_path("vda_vits_golden.npz")) as data:
        return {key: data[key] for key in data.files}


@pytest.fixture(scope="module")
def filled_vits() -> VideoDepthAnything:
    return fill_like_fixture(VideoDepthAnything("vits")).eval()


@pytest.fixture(scope="module")
def golden_run(filled_vits: VideoDepthAnything, golden: dict[str, np.ndarray]) -> dict:
    x = torch.from_numpy(golden["input"])
    _batch, frames, _, height, width = x.shape
    grid = (height // 14, width // 14)
    with torch.inference_mode():
        feats = filled_vits.encode(x.flatten(0, 1))
        head = filled_vits.decode(feats, grid, frames)
        output = filled_vits(x)
    return {"feats": feats, "head": head, "output": output}


def max_err(ours: torch.Tensor, ref: np.ndarray) -> float:
    assert tuple(ours.shape) == ref.shape
    return (ours.float() - torch.from_numpy(ref)).abs().max().item()


@pytest.mark.parametrize("level", range(4))
def test_golden_backbone_features(golden_run: dict, golden: dict, level: int) -> None:
    patch, cls = golden_run["feats"][level]
    assert max_err(patch, golden[f"feat{level}_patch"]) < GOLDEN_ATOL
    assert max_err(cls, golden[f"feat{level}_cls"]) < GOLDEN_ATOL


def test_golden_head(golden_run: dict, golden: dict) -> None:
    assert max_err(golden_run["head"], golden["head"]) < GOLDEN_ATOL


def test_golden_output(golden_run: dict, golden: dict) -> None:
    assert max_err(golden_run["output"], golden["output"]) < GOLDEN_ATOL
    assert golden_run["output"].min() >= 0  # depth ends in a ReLU


# --- shapes, limits and behaviour --------------------------------------------------------


@pytest.mark.parametrize(
    ("frames", "height", "width"), [(1, 14, 14), (3, 42, 28), (MAX_FRAMES, 28, 14)]
)
def test_other_sizes(filled_vits: VideoDepthAnything, frames: int, height: int, width: int) -> None:
    x = torch.randn(2, frames, 3, height, width, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        out = filled_vits(x)
    assert out.shape == (2, frames, height, width)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize(
    ("frames", "height", "width", "message"),
    [
        (MAX_FRAMES + 1, 14, 14, "the network takes 1..32 per window"),
        (2, 15, 14, "must be multiples of 14"),
    ],
)
def test_rejects_bad_input(
    filled_vits: VideoDepthAnything, frames: int, height: int, width: int, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        filled_vits(torch.zeros(1, frames, 3, height, width))


def test_frames_are_mixed_in_time(filled_vits: VideoDepthAnything) -> None:
    x = torch.randn(1, 4, 3, 28, 28, generator=torch.Generator().manual_seed(1))
    bumped = x.clone()
    bumped[:, 0] += 1.0
    with torch.inference_mode():
        delta = (filled_vits(bumped)[:, 3] - filled_vits(x)[:, 3]).abs().max()
    assert delta > 1e-3  # frame 3 depends on frame 0 through the motion modules


def test_tail_chunking_does_not_change_result(filled_vits: VideoDepthAnything) -> None:
    x = torch.randn(1, 5, 3, 28, 42, generator=torch.Generator().manual_seed(2))
    outs = []
    with torch.inference_mode():
        for chunk in (None, 2, 4):
            filled_vits.head.tail_chunk = chunk
            outs.append(filled_vits(x))
    filled_vits.head.tail_chunk = 4
    for out in outs[1:]:
        torch.testing.assert_close(out, outs[0], atol=1e-5, rtol=0)


def test_bf16_autocast_runs_close_to_fp32(filled_vits: VideoDepthAnything) -> None:
    x = torch.randn(1, 4, 3, 28, 42, generator=torch.Generator().manual_seed(3))
    with torch.inference_mode():
        ref = filled_vits(x)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = filled_vits(x)
    assert out.dtype == torch.bfloat16
    # bf16 keeps ~3 significant digits; with random weights the drift is ~1-2% of the mean.
    assert (out.float() - ref).abs().mean() < 0.05 * ref.abs().mean()


def test_native_grid_skips_position_resampling(filled_vits: VideoDepthAnything) -> None:
    backbone = filled_vits.pretrained
    native = backbone.position_embedding(PRETRAIN_GRID, PRETRAIN_GRID)
    assert native is backbone.pos_embed
    # Any other grid is resampled (even the near-identity 37 x 36 case).
    other = backbone.position_embedding(PRETRAIN_GRID, PRETRAIN_GRID - 1)
    assert other.shape == (1, 1 + PRETRAIN_GRID * (PRETRAIN_GRID - 1), backbone.embed_dim)


def test_temporal_attention_batch_splitting(monkeypatch: pytest.MonkeyPatch) -> None:
    from vfx_ingest.networks import motion_module

    attention = fill_like_fixture(motion_module.TemporalAttention(64, max_len=MAX_FRAMES))
    x = torch.randn(50, 7, 64, generator=torch.Generator().manual_seed(4))
    with torch.inference_mode():
        whole = attention(x)
        monkeypatch.setattr(motion_module, "_MAX_ATTENTION_BATCH", 3 * attention.num_heads)
        split = attention(x)  # 17 chunks of <= 3 sequences
    torch.testing.assert_close(split, whole, atol=1e-6, rtol=0)
