"""Modal's GPU names, checked here because Modal itself does not check them, and the
GPU each stage gets.

The Modal SDK upper-cases whatever string it is given and sends it on; a typo only fails
when a container is scheduled. So every GPU name (``modal.gpu``, ``--gpu``) is checked
against the documented list below before anything is sent. A stage that uses a GPU gets,
unless told otherwise, the cheapest Modal GPU in the price catalog that has the memory the
stage declares (prices are data, in ``vfx_ingest.cost``; they are not restated here).

Source: modal.com/docs/guide/gpu ("Specifying GPU type", "Specifying GPU count"). ``A10G``
is the earlier name of ``A10``; ``A100`` is the 40 GB model; ``H100!`` pins an H100 where
Modal may otherwise upgrade the request to an H200; ``B200+`` allows a B300 in its place.
"""

from __future__ import annotations

from dataclasses import dataclass

from ...errors import BadInput
from ...stages.base import DeviceNeeds


@dataclass(frozen=True)
class GpuType:
    name: str
    memory_gb: int
    max_count: int = 8
    aliases: tuple[str, ...] = ()


# Modal's documented types, with the memory of one GPU in GB.
GPU_TYPES: tuple[GpuType, ...] = (
    GpuType("T4", 16),
    GpuType("L4", 24),
    GpuType("A10", 24, max_count=4, aliases=("A10G",)),
    GpuType("L40S", 48),
    GpuType("A100-40GB", 40, aliases=("A100",)),
    GpuType("A100-80GB", 80),
    GpuType("RTX-PRO-6000", 96),
    GpuType("H100", 80, aliases=("H100!",)),
    GpuType("H200", 141),
    GpuType("B200", 180, aliases=("B200+",)),
)

_BY_NAME = {n: g for g in GPU_TYPES for n in (g.name, *g.aliases)}


@dataclass(frozen=True)
class GpuRequest:
    """A checked GPU request: Modal's spelling, the type it names and the count."""

    spelled: str
    type: GpuType
    count: int = 1

    def __str__(self) -> str:
        return self.spelled if self.count == 1 else f"{self.spelled}:{self.count}"

    @property
    def memory_gb(self) -> int:
        return self.type.memory_gb * self.count


def known_names() -> str:
    return ", ".join(n for g in GPU_TYPES for n in (g.name, *g.aliases))


def parse_gpu(text: str, *, where: str = "--gpu") -> GpuRequest:
    """``"L40S"``, ``"h100:2"`` ... as Modal reads them; BadInput for anything else."""
    name, _, count_text = text.strip().partition(":")
    spelled = name.upper()
    gpu = _BY_NAME.get(spelled)
    if gpu is None:
        raise BadInput(
            f"{text!r} is not a Modal GPU type",
            where=where,
            fix=f"Use one of {known_names()} (optionally :N for N GPUs, e.g. H100:2)",
        )
    try:
        count = int(count_text) if count_text else 1
    except ValueError:
        count = 0
    if not 1 <= count <= gpu.max_count:
        raise BadInput(
            f"{text!r} asks for {count_text or count} GPUs",
            where=where,
            fix=f"Modal attaches 1 to {gpu.max_count} {gpu.name} GPUs to a container",
        )
    return GpuRequest(spelled, gpu, count)


def gpu_for(needs: DeviceNeeds, override: str | None = None) -> GpuRequest | None:
    """The GPU a stage runs on: None for CPU-only stages, else ``override`` (checked to
    hold the stage's memory) or the cheapest type that does."""
    if needs.accelerator == "none":
        return None
    if override is not None:
        request = parse_gpu(override)
        if request.memory_gb < needs.min_vram_gb:
            raise BadInput(
                f"{request} has {request.memory_gb} GB of GPU memory and the stage needs "
                f"{needs.min_vram_gb:g} GB",
                where="--gpu",
                fix="Pick a larger GPU, or leave --gpu out to get the cheapest that fits",
            )
        return request
    return cheapest_fit(needs.min_vram_gb)


def cheapest_fit(min_memory_gb: float) -> GpuRequest:
    """The cheapest Modal GPU in the price catalog with at least this much memory."""
    from ...cost.catalog import load_catalog

    fits = []
    for price in load_catalog().gpu_offers("modal"):
        gpu = _BY_NAME.get((price.backend_gpu or "").upper())
        if gpu is not None and gpu.memory_gb >= min_memory_gb:
            fits.append((price.usd_per_second, gpu.name, gpu))
    if not fits:
        raise BadInput(
            f"no priced Modal GPU has {min_memory_gb:g} GB",
            fix="Name one with --gpu TYPE:N (or modal.gpu)",
        )
    _, name, gpu = min(fits)
    return GpuRequest(name, gpu)


def class_name(gpu: GpuRequest | None) -> str:
    """The app's class for a GPU request, a Python identifier: ``Cpu``, ``GpuL40S``,
    ``GpuA100_80GB``, ``GpuH100x2``."""
    if gpu is None:
        return "Cpu"
    base = gpu.spelled.replace("-", "_").replace("!", "_PIN").replace("+", "_PLUS")
    return f"Gpu{base}" + (f"x{gpu.count}" if gpu.count > 1 else "")
