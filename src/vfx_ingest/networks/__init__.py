"""Neural networks implemented in plain PyTorch (no timm, xformers or torchvision).

Each module reproduces the parameter layout of an upstream checkpoint so the official
weights load with ``load_state_dict(strict=True)``; the code itself is our own.
"""
