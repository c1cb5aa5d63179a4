"""What a Modal worker costs per second: the ``rate`` hook of the cost model.

Modal bills the GPU, the CPU cores and the memory a worker requests (``cost.modal_*``, the
same figures the deployed app requests), times the multipliers the settings turn on (region
pinning, non-preemptible), from the catalog's dated prices.
"""

from __future__ import annotations

from ...config import Settings
from ...cost.catalog import Catalog, Price


def rate(
    settings: Settings, catalog: Catalog, price: Price, notes: list[str] | None = None
) -> float:
    """USD per billed second of ``price``, CPU and memory and multipliers included."""
    cost = settings.cost
    cpu = catalog.resource_price(price.backend, "cpu")
    memory = catalog.resource_price(price.backend, "memory")
    parts = {
        "gpu": price.usd_per_second,
        "cpu": cost.modal_cpu_cores * cpu.usd_per_second,
        "memory": cost.modal_memory_gib * memory.usd_per_second,
    }
    active = {f"modal/region/{cost.modal_region}"}
    if cost.modal_nonpreemptible:
        active.add("modal/nonpreemptible")
    for multiplier in catalog.multipliers:
        if multiplier.backend == price.backend and multiplier.id in active:
            if notes is not None:
                notes.append(f"x{multiplier.factor:g} {multiplier.setting}")
            for resource in multiplier.applies_to:
                if resource in parts:
                    parts[resource] *= multiplier.factor
    return sum(parts.values())
