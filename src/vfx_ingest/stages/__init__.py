"""The stage registry: every stage the pipeline can run, in dependency order."""

from __future__ import annotations

from collections.abc import Iterable

from ..errors import BadInput
from .base import StageSpec
from .camera import SPEC as CAMERA
from .depth import SPEC as DEPTH
from .ingest import SPEC as INGEST
from .matte import SPEC as MATTE
from .roto import SPEC as ROTO

SOURCE = "source"

REGISTRY: dict[str, StageSpec] = {spec.name: spec for spec in (INGEST, DEPTH, ROTO, MATTE, CAMERA)}


def get_stage(name: str) -> StageSpec:
    try:
        return REGISTRY[name]
    except KeyError:
        raise BadInput(
            f"unknown stage {name!r}",
            fix=f"Known stages: {', '.join(REGISTRY)} (see `vfx-ingest stages`)",
        ) from None


def producer_of(pass_name: str) -> StageSpec:
    for spec in REGISTRY.values():
        if pass_name in spec.produces:
            return spec
    raise KeyError(pass_name)


def with_dependencies(names: Iterable[str]) -> list[StageSpec]:
    """The requested stages plus the stages producing what they need, upstream first.

    A stage's optional inputs (``uses``) add nothing, but when the run also asks for their
    producer, that producer runs first so that its output is used.
    """
    requested = [get_stage(name) for name in names]
    if not requested:
        raise BadInput(
            "no stage to run: the stage list (--stages or the stages setting) is empty",
            fix=f"Name at least one: {', '.join(REGISTRY)} (see `vfx-ingest stages`)",
        )
    ordered: list[StageSpec] = []

    def visit(spec: StageSpec) -> None:
        if spec in ordered:
            return
        for need in spec.needs:
            if need != SOURCE:
                visit(producer_of(need))
        for use in spec.uses:
            producer = REGISTRY.get(_producer_name(use) or "")
            if producer is not None and producer in requested:
                visit(producer)
        ordered.append(spec)

    for spec in requested:
        visit(spec)
    return ordered


def _producer_name(pass_name: str) -> str | None:
    try:
        return producer_of(pass_name).name
    except KeyError:
        return None
