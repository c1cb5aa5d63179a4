"""The streaming estimator against the reference's long-video algorithm, on the real network.

The oracle below is the reference's procedure written out as it describes itself (pad the
clip, run every 32-frame window whole with its first 10 inputs replaced by the previous
window's keyframes, keep every output, then align and cross-fade at the end), sharing no
code with ``depth.windows``. Ours must give the same frames while encoding each frame once.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from depth_helpers import ArraySource, courtyard, filled_network
from vfx_ingest.depth.inference import (
    DepthEstimator,
    InferenceOptions,
    autocast_dtype,
    to_network_input,
)

KEYFRAMES = [0, 12, 24, 25, 26, 27, 28, 29, 30, 31]


def reference_video_depth(network: torch.nn.Module, frames: list[np.ndarray]) -> torch.Tensor:
    count = len(frames)
    x = list(to_network_input(frames, frames[0].shape[:2], torch.device("cpu")))
    x += [x[-1]] * ((22 - count % 22) % 22 + 10)
    raw: list[torch.Tensor] = []
    previous = None
    with torch.inference_mode():
        for first in range(0, count, 22):
            window = torch.stack(x[first : first + 32])
            if previous is not None:
                window[:10] = previous[KEYFRAMES]
            raw += list(network(window[None])[0])
            previous = window
    aligned: list[torch.Tensor] = list(raw[:32])
    anchors = [raw[0], raw[12]]
    for first in range(32, len(raw), 32):
        pred = torch.cat([raw[first].flatten(), raw[first + 1].flatten()]).double()
        target = torch.cat([a.flatten() for a in anchors]).double()
        design = torch.stack([pred, torch.ones_like(pred)], dim=1)
        scale, shift = torch.linalg.lstsq(design, target[:, None]).solution[:, 0].tolist()
        post = [(raw[first + 2 + i] * scale + shift).clamp(min=0) for i in range(8)]
        weights = torch.linspace(0, 1, 8).tolist()
        fade = zip(aligned[-8:], post, weights, strict=True)
        aligned[-8:] = [p * (1 - w) + q * w for p, q, w in fade]
        aligned += [(raw[first + i] * scale + shift).clamp(min=0) for i in range(10, 32)]
        anchors = [anchors[0], (raw[first + 12] * scale + shift).clamp(min=0)]
    return torch.stack(aligned[:count])


@pytest.fixture(scope="module")
def clip40() -> list[np.ndarray]:
    return list(courtyard(40, 42, 28))  # exactly the network's size: no resampling


@pytest.fixture(scope="module")
def oracle40(clip40: list[np.ndarray]) -> torch.Tensor:
    return reference_video_depth(filled_network(), clip40)


def run_estimator(frames: list[np.ndarray], **options: object) -> tuple[torch.Tensor, object]:
    source = ArraySource(frames)
    out: dict[int, np.ndarray] = {}
    estimator = DepthEstimator(filled_network(), "cpu", InferenceOptions(input_size=28, **options))
    stats = estimator.run(source, lambda i, d: out.__setitem__(i, d))
    assert sorted(out) == list(range(len(frames)))
    assert sorted(source.loads) == list(range(len(frames)))  # every frame read once
    return torch.from_numpy(np.stack([out[i] for i in range(len(frames))])), stats


@pytest.mark.parametrize("batch", [1, 2])
def test_streaming_matches_the_reference_algorithm(
    clip40: list[np.ndarray], oracle40: torch.Tensor, batch: int
) -> None:
    ours, stats = run_estimator(clip40, batch_windows=batch)
    assert stats.windows == 2 and stats.batch_windows == batch
    # The reference encodes 64 frames for these 2 windows; ours each of the 40 once.
    assert stats.encoded_frames == 40
    assert oracle40.min() >= 0 and oracle40.std() > 0.05 * oracle40.mean()
    torch.testing.assert_close(ours, oracle40, atol=1e-4 * float(oracle40.abs().max()), rtol=0)


def test_output_is_resized_to_the_plate() -> None:
    frames = list(courtyard(3, 64, 48))  # 48x64 plate -> 28x42 network input
    out: dict[int, np.ndarray] = {}
    stats = DepthEstimator(filled_network(), "cpu", InferenceOptions(input_size=28)).run(
        ArraySource(frames), lambda i, d: out.__setitem__(i, d)
    )
    assert stats.network_size == (28, 42)
    assert {d.shape for d in out.values()} == {(48, 64)}
    assert all(d.dtype == np.float32 and np.isfinite(d).all() for d in out.values())


def test_network_input_preprocessing() -> None:
    grey8 = np.full((20, 30, 3), 128, np.uint8)
    grey16 = grey8.astype(np.uint16) * 257
    grey_float = grey8.astype(np.float32) / 255
    inputs = [
        to_network_input([g], (28, 42), torch.device("cpu")) for g in (grey8, grey16, grey_float)
    ]
    assert inputs[0].shape == (1, 3, 28, 42) and inputs[0].dtype == torch.float32
    for other in inputs[1:]:
        torch.testing.assert_close(other, inputs[0])
    mean, std = torch.tensor([0.485, 0.456, 0.406]), torch.tensor([0.229, 0.224, 0.225])
    torch.testing.assert_close(inputs[0][0, :, 5, 5], (128 / 255 - mean) / std)


def test_precision_choice() -> None:
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert autocast_dtype("auto", cpu) is None
    assert autocast_dtype("auto", cuda) is torch.float16
    assert autocast_dtype("bf16", cuda) is torch.bfloat16
    assert autocast_dtype("fp32", cuda) is None


def test_estimator_precision_and_compile_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    network = filled_network()
    bf16 = DepthEstimator(network, "cpu", InferenceOptions(precision="bf16"))
    assert bf16.precision == "bf16"
    with bf16._autocast():
        assert torch.is_autocast_enabled("cpu")
        assert torch.get_autocast_dtype("cpu") is torch.bfloat16
    fp32 = DepthEstimator(network, "cpu")
    assert fp32.precision == "fp32"
    with fp32._autocast():
        assert not torch.is_autocast_enabled("cpu")
    compiled_fns = []
    monkeypatch.setattr(torch, "compile", lambda fn: compiled_fns.append(fn) or fn)
    DepthEstimator(network, "cpu", InferenceOptions(compile=True))
    assert compiled_fns == [network.encode, network.decode]


class FlatNetwork(torch.nn.Module):
    """A stand-in with the network's encode/decode interface: each frame's depth is its
    mean input value, everywhere. Cheap, for the estimator's control flow."""

    def encode(self, frames: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        mean = frames.mean(dim=(1, 2, 3))
        return [(mean[:, None, None], mean[:, None])]

    def decode(self, features, grid: tuple[int, int], num_frames: int) -> torch.Tensor:
        mean = features[0][1]
        return mean[:, :, None, None].expand(-1, 1, grid[0] * 14, grid[1] * 14) + 3.0


def test_out_of_memory_halves_the_batch_then_says_what_to_do(
    clip40: list[np.ndarray], monkeypatch: pytest.MonkeyPatch
) -> None:
    from vfx_ingest.errors import StageFailed

    calls: list[int] = []
    decode = DepthEstimator._decode

    def tight_memory(self, wanted, cache, grid):
        calls.append(len(wanted))
        if len(wanted) > 1 or fail_always:
            raise torch.cuda.OutOfMemoryError("simulated")
        return decode(self, wanted, cache, grid)

    monkeypatch.setattr(DepthEstimator, "_decode", tight_memory)
    fail_always = False
    out: dict[int, np.ndarray] = {}
    options = InferenceOptions(input_size=28, batch_windows=2)
    stats = DepthEstimator(FlatNetwork(), "cpu", options).run(
        ArraySource(clip40), lambda i, d: out.__setitem__(i, d)
    )
    assert calls == [2, 1, 1] and stats.batch_windows == 1 and len(out) == 40
    fail_always = True
    with pytest.raises(StageFailed, match=r"out of GPU memory.*smaller --depth-size"):
        DepthEstimator(FlatNetwork(), "cpu", InferenceOptions(input_size=28)).run(
            ArraySource(clip40), lambda i, d: None
        )
