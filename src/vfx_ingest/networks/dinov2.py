"""DINOv2 vision transformer backbone (ViT-S/B/L, patch 14) as used by Depth Anything.

Parameter names follow the official DINOv2 checkpoints (``cls_token``, ``pos_embed``,
``mask_token``, ``patch_embed.proj``, ``blocks.N.{norm1,attn,ls1,norm2,mlp,ls2}``, ``norm``)
so weights load strictly. Only inference is supported: no drop-path, no masking, no
register tokens (the Depth Anything checkpoints have none).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

PATCH_SIZE = 14
# The checkpoints were trained at 518 px: a 37 x 37 patch grid (+1 class token = 1370 rows).
PRETRAIN_GRID = 518 // PATCH_SIZE
# Offset added to the target grid before computing the interpolation scale factor. It is a
# historical workaround (DINO issue #8) that makes floor(37 * scale) land on the intended
# size; it also slightly changes the sampling positions, so it must be kept to match.
POS_INTERP_OFFSET = 0.1
LAYER_NORM_EPS = 1e-6


@dataclass(frozen=True)
class ViTConfig:
    embed_dim: int
    depth: int
    num_heads: int
    mlp_ratio: int = 4


VIT_CONFIGS: dict[str, ViTConfig] = {
    "vits": ViTConfig(embed_dim=384, depth=12, num_heads=6),
    "vitb": ViTConfig(embed_dim=768, depth=12, num_heads=12),
    "vitl": ViTConfig(embed_dim=1024, depth=24, num_heads=16),
}


class PatchEmbed(nn.Module):
    """Non-overlapping 14x14 patches -> tokens, row-major over the patch grid."""

    def __init__(self, embed_dim: int, in_chans: int = 3) -> None:
        super().__init__()
        self.proj = nn.Conv2d(in_chans, embed_dim, kernel_size=PATCH_SIZE, stride=PATCH_SIZE)

    def forward(self, x: Tensor) -> Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)  # [N, C, h, w] -> [N, h*w, C]


class Attention(nn.Module):
    """Multi-head self-attention with a fused qkv projection."""

    def __init__(self, dim: int, num_heads: int) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: Tensor) -> Tensor:
        n, length, dim = x.shape
        # qkv rows are laid out as [3, heads, head_dim] in the checkpoint.
        qkv = self.qkv(x).reshape(n, length, 3, self.num_heads, dim // self.num_heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # each [n, heads, length, head_dim]
        out = F.scaled_dot_product_attention(q, k, v)
        return self.proj(out.transpose(1, 2).reshape(n, length, dim))


class LayerScale(nn.Module):
    """Per-channel learned residual scale."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.ones(dim))

    def forward(self, x: Tensor) -> Tensor:
        return x * self.gamma


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(F.gelu(self.fc1(x)))  # exact (erf) GELU, as in DINOv2


class Block(nn.Module):
    """Pre-norm transformer block with LayerScale on both residual branches."""

    def __init__(self, cfg: ViTConfig) -> None:
        super().__init__()
        dim = cfg.embed_dim
        self.norm1 = nn.LayerNorm(dim, eps=LAYER_NORM_EPS)
        self.attn = Attention(dim, cfg.num_heads)
        self.ls1 = LayerScale(dim)
        self.norm2 = nn.LayerNorm(dim, eps=LAYER_NORM_EPS)
        self.mlp = Mlp(dim, dim * cfg.mlp_ratio)
        self.ls2 = LayerScale(dim)

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.ls1(self.attn(self.norm1(x)))
        return x + self.ls2(self.mlp(self.norm2(x)))


class DinoV2(nn.Module):
    """DINOv2 ViT returning normalised intermediate block outputs."""

    def __init__(self, variant: str = "vits") -> None:
        super().__init__()
        if variant not in VIT_CONFIGS:
            raise ValueError(
                f"unknown DINOv2 variant {variant!r}; expected one of {list(VIT_CONFIGS)}"
            )
        cfg = VIT_CONFIGS[variant]
        self.cfg = cfg
        dim = cfg.embed_dim
        # Parameters registered directly on this module come first in state_dict(), matching
        # the checkpoint order: cls_token, pos_embed, mask_token, then submodules.
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, PRETRAIN_GRID * PRETRAIN_GRID + 1, dim))
        # Only used for masked pre-training; kept so checkpoints load strictly.
        self.mask_token = nn.Parameter(torch.zeros(1, dim))
        self.patch_embed = PatchEmbed(dim)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.depth))
        self.norm = nn.LayerNorm(dim, eps=LAYER_NORM_EPS)

    @property
    def embed_dim(self) -> int:
        return self.cfg.embed_dim

    def position_embedding(self, grid_h: int, grid_w: int) -> Tensor:
        """Position embedding [1, 1 + grid_h*grid_w, C] for a grid_h x grid_w patch grid."""
        if (grid_h, grid_w) == (PRETRAIN_GRID, PRETRAIN_GRID):
            return self.pos_embed  # the reference skips resampling at the native grid
        # Resample in fp32: bicubic is not implemented for half on every device, and the
        # table is small. The caller casts the result to the activation dtype.
        table = self.pos_embed.float()
        cls_pos, patch_pos = table[:, :1], table[:, 1:]
        dim = table.shape[-1]
        grid = patch_pos.reshape(1, PRETRAIN_GRID, PRETRAIN_GRID, dim).permute(0, 3, 1, 2)
        # A scale factor (not a target size) drives the resampling; with the +0.1 offset the
        # source coordinates differ slightly from a size-based resize, so this is not
        # interchangeable with size=(grid_h, grid_w).
        scale = (
            (grid_h + POS_INTERP_OFFSET) / PRETRAIN_GRID,
            (grid_w + POS_INTERP_OFFSET) / PRETRAIN_GRID,
        )
        grid = F.interpolate(grid, scale_factor=scale, mode="bicubic", antialias=False)
        if grid.shape[-2:] != (grid_h, grid_w):
            raise RuntimeError(f"position grid resampled to {tuple(grid.shape[-2:])}")
        patch_pos = grid.permute(0, 2, 3, 1).reshape(1, grid_h * grid_w, dim)
        return torch.cat((cls_pos, patch_pos), dim=1)

    def tokens(self, images: Tensor) -> Tensor:
        """Images [N, 3, H, W] (H, W multiples of 14) -> tokens [N, 1 + h*w, C]."""
        _, _, height, width = images.shape
        if height % PATCH_SIZE or width % PATCH_SIZE:
            raise ValueError(f"image size {height}x{width} is not a multiple of {PATCH_SIZE}")
        x = self.patch_embed(images)
        x = torch.cat((self.cls_token.expand(x.shape[0], -1, -1).to(x.dtype), x), dim=1)
        pos = self.position_embedding(height // PATCH_SIZE, width // PATCH_SIZE)
        return x + pos.to(x.dtype)

    def get_intermediate_layers(
        self, images: Tensor, layers: list[int] | tuple[int, ...]
    ) -> list[tuple[Tensor, Tensor]]:
        """Run the blocks and return ``(patch_tokens [N, h*w, C], cls_token [N, C])`` for each
        requested block index, with the final LayerNorm applied to each."""
        wanted = sorted(set(layers))
        if not wanted or not 0 <= wanted[0] <= wanted[-1] < len(self.blocks):
            raise ValueError(f"layer indices {layers} out of range for {len(self.blocks)} blocks")
        x = self.tokens(images)
        taken: dict[int, Tensor] = {}
        for index, block in enumerate(self.blocks[: wanted[-1] + 1]):  # later blocks unused
            x = block(x)
            if index in wanted:
                taken[index] = self.norm(x)
        return [(taken[i][:, 1:], taken[i][:, 0]) for i in layers]


__all__ = ["PATCH_SIZE", "VIT_CONFIGS", "DinoV2", "ViTConfig"]
