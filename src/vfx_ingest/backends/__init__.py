"""The backend registry: one line per backend. A backend is one module or package under
``backends/`` whose declaration (:class:`~.base.BackendSpec`) is registered here; its code
is imported only when it is used (cloud SDKs are heavy)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from ..errors import BadInput
from .base import Backend, BackendSpec, load
from .modal import SPEC as MODAL
from .runpod import POD as RUNPOD_POD
from .runpod import SERVERLESS as RUNPOD_SERVERLESS

BACKENDS: dict[str, BackendSpec] = {
    "local": BackendSpec(
        name="local",
        summary="this machine (CUDA or CPU)",
        runner="vfx_ingest.backends.local:LocalBackend",
    ),
    "runpod-serverless": RUNPOD_SERVERLESS,
    "runpod-pod": RUNPOD_POD,
    "modal": MODAL,
}


def backend_spec(name: str) -> BackendSpec:
    """The declaration of the backend called ``name`` (BadInput when there is none)."""
    try:
        return BACKENDS[name]
    except KeyError:
        for spec in BACKENDS.values():
            if name in spec.aliases:
                return spec
        raise BadInput(
            f"unknown backend {name!r}", fix=f"Known backends: {', '.join(BACKENDS)}"
        ) from None


def backend_class(name: str) -> type[Backend]:
    """The class of the backend called ``name`` (its module imported only now)."""
    return load(backend_spec(name).runner)


def get_backend(name: str, settings: Any) -> Backend:
    """The backend called ``name``, configured from ``settings`` (checked at once)."""
    return backend_class(name)(settings)  # type: ignore[call-arg]


def with_hook(hook: str) -> list[BackendSpec]:
    """The backends that have ``hook``, in registry order."""
    return [spec for spec in BACKENDS.values() if spec.has(hook)]


def hook_of(name: str, hook: str, what: str) -> Any:
    """Backend ``name``'s ``hook``; BadInput naming ``what`` it lacks and who has it."""
    found = backend_spec(name).hook(hook)
    if found is None:
        have = ", ".join(spec.name for spec in with_hook(hook)) or "(none)"
        raise BadInput(f"backend {name} has no {what}", fix=f"Use one of: {have}")
    return found


def hooks_of(name: str | None, hook: str, what: str) -> list[Any]:
    """``hook`` of backend ``name``, or of every backend that has it when ``name`` is None."""
    if name is None:
        return [spec.hook(hook) for spec in with_hook(hook)]
    return [hook_of(name, hook, what)]


def settings_sections() -> dict[str, type[BaseModel]]:
    """Each backend settings section once (backends may share one, e.g. ``runpod``)."""
    sections: dict[str, type[BaseModel]] = {}
    for spec in BACKENDS.values():
        if spec.settings_key is None or spec.settings is None:
            continue
        known = sections.setdefault(spec.settings_key, spec.settings)
        if known is not spec.settings:
            raise TypeError(f"backends declare two models for settings [{spec.settings_key}]")
    return sections


def env_aliases() -> dict[str, tuple[str, str]]:
    """Other tools' environment variables the backends honour: NAME -> (section, field)."""
    return {
        name: (spec.settings_key, field)
        for spec in BACKENDS.values()
        if spec.settings_key
        for name, field in spec.env_aliases.items()
    }


def run_options() -> dict[str, tuple[Any, list[str]]]:
    """Every backend's `run` options: field -> (its FieldInfo, the backends declaring it).
    Backends declaring the same field share one option (``--gpu``)."""
    options: dict[str, tuple[Any, list[str]]] = {}
    for spec in BACKENDS.values():
        for field, info in (spec.options.model_fields if spec.options else {}).items():
            known = options.setdefault(field, (info, []))
            if known[0].annotation != info.annotation:
                raise TypeError(f"run option {field} has two types across backends")
            known[1].append(spec.name)
    return options


def with_run_options(name: str, settings: Any, given: dict[str, Any]) -> Any:
    """``settings`` with this run's backend options applied to backend ``name``'s section;
    BadInput for an option that backend does not take."""
    given = {k: v for k, v in given.items() if v is not None}
    if not given:
        return settings
    spec = backend_spec(name)
    takes = set(spec.options.model_fields) if spec.options else set()
    for field in given:
        if field not in takes:
            owners = run_options()[field][1]
            flag = "--" + field.replace("_", "-")
            raise BadInput(
                f"{flag} applies to the {' and '.join(owners)} backend, and this run uses {name}",
                fix=f"Add --backend {owners[0]}, or leave the option out",
            )
    assert spec.settings_key is not None  # options are fields of its section (checked)
    section = getattr(settings, spec.settings_key).model_copy(update=given)
    return settings.model_copy(update={spec.settings_key: section})
