"""Temporal "motion module": self-attention along the time axis, per spatial location.

This is what makes Video Depth Anything temporally consistent: feature maps of all frames
of a clip are normalised, and every pixel position attends over its own values across the
T frames. The submodule names (``temporal_transformer.transformer_blocks.0.attention_blocks.
{0,1}...``, ``ff.net.{0,2}``, ``pos_encoder.pe``) follow the official checkpoints, which
inherited them from AnimateDiff.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

NUM_HEADS = 8
NUM_ATTENTION_BLOCKS = 2
GROUP_NORM_GROUPS = 32
# Fused CUDA attention kernels put batch * heads on a launch-grid axis limited to 65535.
# Here the "batch" is every pixel of every clip, so split it to stay below that.
_MAX_ATTENTION_BATCH = 65535


def sinusoidal_table(length: int, dim: int) -> Tensor:
    """Classic transformer sin/cos table [1, length, dim]: sin on even, cos on odd channels."""
    position = torch.arange(length, dtype=torch.float32).unsqueeze(1)
    inv_freq = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * (-math.log(10000.0) / dim))
    table = torch.zeros(1, length, dim)
    table[0, :, 0::2] = torch.sin(position * inv_freq)
    table[0, :, 1::2] = torch.cos(position * inv_freq)
    return table


class PositionalEncoding(nn.Module):
    """Adds a per-frame-index vector. ``pe`` is a persistent buffer: it is stored in the
    checkpoint, so whatever the checkpoint holds (not the formula) is what gets used."""

    pe: Tensor

    def __init__(self, dim: int, max_len: int) -> None:
        super().__init__()
        self.register_buffer("pe", sinusoidal_table(max_len, dim))

    @property
    def max_len(self) -> int:
        return self.pe.shape[1]

    def forward(self, x: Tensor) -> Tensor:  # x: [N, T, C]
        frames = x.shape[1]
        if frames > self.max_len:
            raise ValueError(f"{frames} frames exceed the temporal window of {self.max_len}")
        return x + self.pe[:, :frames].to(x.dtype)


class TemporalAttention(nn.Module):
    """Multi-head self-attention over the frame axis of [N, T, C] sequences."""

    def __init__(self, dim: int, max_len: int, num_heads: int = NUM_HEADS) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.to_q = nn.Linear(dim, dim, bias=False)
        self.to_k = nn.Linear(dim, dim, bias=False)
        self.to_v = nn.Linear(dim, dim, bias=False)
        # A list (not a bare Linear) because the checkpoint key is ``to_out.0``; index 1
        # was a training-time dropout with no weights.
        self.to_out = nn.ModuleList([nn.Linear(dim, dim)])
        self.pos_encoder = PositionalEncoding(dim, max_len)

    def _split_heads(self, x: Tensor) -> Tensor:
        n, frames, dim = x.shape
        return x.reshape(n, frames, self.num_heads, dim // self.num_heads).transpose(1, 2)

    def forward(self, x: Tensor) -> Tensor:
        # The frame-index encoding feeds queries, keys and values alike.
        x = self.pos_encoder(x)
        q, k, v = (self._split_heads(proj(x)) for proj in (self.to_q, self.to_k, self.to_v))
        step = max(1, _MAX_ATTENTION_BATCH // self.num_heads)
        if q.shape[0] <= step:
            out = F.scaled_dot_product_attention(q, k, v)
        else:
            parts = zip(q.split(step), k.split(step), v.split(step), strict=True)
            out = torch.cat([F.scaled_dot_product_attention(*p) for p in parts])
        n, _, frames, _ = out.shape
        return self.to_out[0](out.transpose(1, 2).reshape(n, frames, -1))


class GEGLU(nn.Module):
    """Gated GELU: one projection yields [value, gate]; output = value * gelu(gate)."""

    def __init__(self, dim_in: int, dim_out: int) -> None:
        super().__init__()
        self.proj = nn.Linear(dim_in, dim_out * 2)

    def forward(self, x: Tensor) -> Tensor:
        value, gate = self.proj(x).chunk(2, dim=-1)
        return value * F.gelu(gate)


class FeedForward(nn.Module):
    def __init__(self, dim: int, mult: int = 4) -> None:
        super().__init__()
        # Keys are ``net.0.proj`` and ``net.2``; the identity at index 1 stands in for the
        # dropout layer of the original so the indices line up.
        self.net = nn.Sequential(GEGLU(dim, dim * mult), nn.Identity(), nn.Linear(dim * mult, dim))

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


class TemporalTransformerBlock(nn.Module):
    """Two pre-norm temporal self-attention layers, then a pre-norm GEGLU feed-forward."""

    def __init__(self, dim: int, max_len: int) -> None:
        super().__init__()
        self.attention_blocks = nn.ModuleList(
            TemporalAttention(dim, max_len) for _ in range(NUM_ATTENTION_BLOCKS)
        )
        self.norms = nn.ModuleList(nn.LayerNorm(dim) for _ in range(NUM_ATTENTION_BLOCKS))
        self.ff = FeedForward(dim)
        self.ff_norm = nn.LayerNorm(dim)

    def forward(self, x: Tensor) -> Tensor:
        for attention, norm in zip(self.attention_blocks, self.norms, strict=True):
            x = x + attention(norm(x))
        return x + self.ff(self.ff_norm(x))


class TemporalTransformer(nn.Module):
    """GroupNorm -> proj_in -> temporal blocks -> proj_out, added back onto the input."""

    def __init__(self, channels: int, max_len: int, num_blocks: int = 1) -> None:
        super().__init__()
        self.norm = nn.GroupNorm(GROUP_NORM_GROUPS, channels, eps=1e-6, affine=True)
        self.proj_in = nn.Linear(channels, channels)
        self.transformer_blocks = nn.ModuleList(
            TemporalTransformerBlock(channels, max_len) for _ in range(num_blocks)
        )
        self.proj_out = nn.Linear(channels, channels)
        # Zero-initialised output projection: a freshly built module is the identity map
        # (matches how the network was initialised for training; checkpoints overwrite it).
        nn.init.zeros_(self.proj_out.weight)
        nn.init.zeros_(self.proj_out.bias)

    def forward(self, x: Tensor, num_frames: int) -> Tensor:
        """x: [B*T, C, H, W] with the T frames of each clip contiguous -> same shape."""
        bt, channels, height, width = x.shape
        if bt % num_frames:
            raise ValueError(f"batch of {bt} frames is not a multiple of T={num_frames}")
        clips = bt // num_frames
        # GroupNorm works per frame (over C, H, W), before the frames are mixed.
        h = self.norm(x)
        # [B, T, C, H, W] -> [B, H, W, T, C] -> one length-T sequence per (clip, pixel).
        h = h.reshape(clips, num_frames, channels, height, width).permute(0, 3, 4, 1, 2)
        h = self.proj_in(h.reshape(clips * height * width, num_frames, channels))
        for block in self.transformer_blocks:
            h = block(h)
        h = self.proj_out(h)
        h = h.reshape(clips, height, width, num_frames, channels).permute(0, 3, 4, 1, 2)
        return h.reshape(bt, channels, height, width) + x


class TemporalModule(nn.Module):
    """Checkpoint-compatible wrapper (``motion_modules.N.temporal_transformer``)."""

    def __init__(self, channels: int, max_len: int) -> None:
        super().__init__()
        self.temporal_transformer = TemporalTransformer(channels, max_len)

    def forward(self, x: Tensor, num_frames: int) -> Tensor:
        return self.temporal_transformer(x, num_frames)
