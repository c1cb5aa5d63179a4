"""The package's extras (pyproject's optional dependencies): which one a missing module
comes from, and a check that a stage's or command's extras are installed before any work.

The extras and their distributions are read from the installed package's metadata, so
they cannot drift from pyproject.toml; only import names that differ from a
distribution's name are listed here.
"""

from __future__ import annotations

import functools
import re

from .errors import BadInput

DISTRIBUTION = "vfx-ingest"
# Distribution -> the module it installs, where the two names differ.
IMPORT_NAMES = {"usd-core": "pxr"}
# Extras that only gather others, or serve development: never the one to name.
GATHERING = ("all", "dev")

_REQUIREMENT = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)[^;]*;\s*extra\s*==\s*['\"]([^'\"]+)")


@functools.cache
def extra_modules() -> dict[str, tuple[str, ...]]:
    """Extra -> the top-level modules its distributions install (empty when the package's
    metadata cannot be found, e.g. run from a source tree that was never installed)."""
    from importlib.metadata import PackageNotFoundError, requires

    try:
        lines = requires(DISTRIBUTION) or []
    except PackageNotFoundError:
        return {}
    modules: dict[str, list[str]] = {}
    for line in lines:
        if (match := _REQUIREMENT.match(line)) is None:
            continue
        dist, extra = match.group(1).lower(), match.group(2)
        if extra in GATHERING or dist == DISTRIBUTION:
            continue
        module = IMPORT_NAMES.get(dist, dist.replace("-", "_"))
        modules.setdefault(extra, []).append(module)
    return {extra: tuple(names) for extra, names in modules.items()}


def extra_for(module: str) -> str | None:
    """The extra that installs ``module`` (a dotted name is fine); the narrowest one when
    several do (boto3: ``s3`` rather than ``runpod``)."""
    top = module.split(".")[0]
    owners = [(len(mods), extra) for extra, mods in extra_modules().items() if top in mods]
    return min(owners)[1] if owners else None


def install_hint(extra: str) -> str:
    return f"Install it: pip install '{DISTRIBUTION}[{extra}]'"


def _importable(module: str) -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def require(extras: tuple[str, ...] | list[str], what: str) -> None:
    """BadInput naming the extra to install when a module of one of ``extras`` is missing
    (``what`` needs them: "the camera stage")."""
    for extra in extras:
        for module in extra_modules().get(extra, ()):
            if not _importable(module):
                raise BadInput(
                    f"{what} needs {module}, which is not installed (the '{extra}' extra)",
                    fix=install_hint(extra),
                )


def missing_module_error(exc: ModuleNotFoundError) -> BadInput | None:
    """The BadInput for an import of an extra's module that failed, else None (a module
    that no extra provides is a bug, not a missing install)."""
    extra = extra_for(exc.name or "")
    if extra is None:
        return None
    return BadInput(
        f"{exc.name} is not installed; this needs the '{extra}' extra", fix=install_hint(extra)
    )
