"""When a stage may be skipped: same cache key, and its outputs still verify.

The key covers what determines a stage's outputs: stage name and version, the params that
matter (``cache=False`` fields excluded), the digests of its inputs and of its models.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import NamedTuple

from .digest import verify
from .errors import BadInput
from .job import ModelRef
from .manifest import Manifest, StageRecord
from .stages import SOURCE
from .stages.base import StageParams, StageSpec


def cache_key(
    spec: StageSpec, params: StageParams, inputs: dict[str, str], models: dict[str, str]
) -> str:
    from .digest import json_digest

    return json_digest(
        {
            "stage": spec.name,
            "version": spec.version,
            "params": params.cache_view(),
            "inputs": inputs,
            "models": models,
        }
    )


def model_digests(spec: StageSpec, params: StageParams, refs: Iterable[ModelRef]) -> dict[str, str]:
    """Digest of each model the stage loads with these params (from the job's model refs)."""
    selected = spec.selected_models(params)
    return {ref.id: ref.digest or "" for ref in refs if ref.id in selected}


def input_digests(spec: StageSpec, manifest: Manifest) -> dict[str, str] | None:
    """Digest of each input the stage needs, and of each optional input (``uses``) the
    shot has; None when a needed one is not available yet."""
    digests: dict[str, str] = {}
    for need in spec.needs:
        if need == SOURCE:
            if manifest.source is None:
                return None
            digests[need] = manifest.source.digest.sha256
            continue
        digest = _pass_digest(need, manifest)
        if digest is None:
            return None
        digests[need] = digest
    for use in spec.uses:
        if (digest := _pass_digest(use, manifest)) is not None:
            digests[use] = digest
    return digests


def _pass_digest(pass_name: str, manifest: Manifest) -> str | None:
    """The output digest of the completed run that made ``pass_name``, if any."""
    from .stages import producer_of

    try:
        record = manifest.done(producer_of(pass_name).name)
    except KeyError:  # no registered stage makes this pass
        return None
    return record.output_digest if record is not None else None


class StageKey(NamedTuple):
    inputs: dict[str, str]
    models: dict[str, str]
    key: str


def stage_key(
    spec: StageSpec,
    params: StageParams,
    manifest: Manifest,
    refs: Iterable[ModelRef],
    root: Path,
) -> StageKey:
    """The stage's input and model digests and its cache key as the shot stands; BadInput
    when an input it needs is not there yet."""
    inputs = input_digests(spec, manifest)
    if inputs is None:
        raise BadInput(
            f"{spec.name} needs {', '.join(spec.needs)}, which the shot does not have",
            where=str(root),
            fix="Run the stages that produce it first (see `vfx-ingest stages`)",
        )
    models = model_digests(spec, params, refs)
    return StageKey(inputs, models, cache_key(spec, params, inputs, models))


def outputs_verify(root: Path, record: StageRecord) -> bool:
    """Every recorded output file is present with the recorded content."""
    return bool(record.outputs) and all(
        verify(root / rel, digest) for rel, digest in record.outputs.items()
    )


def is_fresh(record: StageRecord | None, key: str, root: Path) -> bool:
    return (
        record is not None
        and record.status == "done"
        and record.cache_key == key
        and outputs_verify(root, record)
    )


def staleness(spec: StageSpec, record: StageRecord, manifest: Manifest, root: Path) -> str | None:
    """Why a done stage's outputs no longer stand, or None when they do (for `status`)."""
    current = input_digests(spec, manifest)
    if current is None or current != record.inputs:
        return "inputs changed"
    if not outputs_verify(root, record):
        return "outputs missing or modified"
    return None
