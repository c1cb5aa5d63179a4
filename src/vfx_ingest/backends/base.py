"""The backend interface: what a backend declares, and the one method that runs a job.

Like an httpx transport, a backend runs a job through one small method; the pipeline never
asks which backend it holds. The local backend runs the worker in-process; remote backends
upload inputs, run the same worker remotely, and download outputs.

Everything else about a backend is a declaration, :class:`BackendSpec`, registered in
``backends/__init__.py`` (one line per backend):

- ``settings``: its settings section (``runpod``, ``modal``), a pydantic model composed
  into ``Settings`` (``config show``, ``VFX_INGEST_<SECTION>__<KEY>`` work as for any key);
- ``options``: a pydantic model whose fields become ``run`` options (``--gpu``,
  ``--ephemeral``), each setting the field of the same name in the backend's section;
- optional hooks, each ``"module:function"`` imported only when called (cloud SDKs are
  heavy): ``deploy``, ``sync_models``, ``resources``, ``cleanup``, ``offers``, ``rate``,
  ``refresh_prices``, ``serve``, ``pod``; their signatures are listed with :data:`HOOKS`.

A declaration module imports nothing heavier than pydantic: the configuration and the CLI's
option lists are built from it at start-up.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import BaseModel, ConfigDict, Field

from ..job import EventFn, Job, JobResult

if TYPE_CHECKING:
    from ..cost.meter import CostMeter


class Backend(Protocol):
    name: str
    # Remote backends run on machines with their own model store (an image or a volume):
    # the planner then names models by their locked digests instead of requiring them here.
    remote: bool

    def run(
        self,
        job: Job,
        on_event: EventFn,
        cancel: threading.Event,
        meter: CostMeter | None = None,
    ) -> JobResult:
        """Execute ``job``; release every resource it started before returning or raising.

        ``meter``: feed it the billed time and rate of remote work; it sets ``cancel`` when
        the run passes the user's cost limit (contract in ``vfx_ingest.cost.meter``)."""
        ...


class Say(Protocol):
    """How a hook talks to the user: ``note`` goes to stderr (rich markup), ``echo`` to
    stdout (plain, for scripts); both are silent with ``--json``, which the hook's return
    value serves instead."""

    json: bool

    def note(self, text: str) -> None: ...

    def echo(self, text: str) -> None: ...


class Report(BaseModel):
    """What a hook returns: printed as one JSON object with ``--json``, else by ``human``."""

    def human(self) -> Any:
        """A rich renderable (or a string) for the terminal; None: nothing more to show."""
        return None


class ModelsUpload(Report):
    """What ``models sync --to <backend>`` sent: one row per model."""

    target: str
    models: list[Any]


class Resource(BaseModel):
    """One thing a backend has running or stored in the cloud (``resources`` hook)."""

    backend: str
    kind: str = Field(description="endpoint, template, app, volume, pod, object...")
    name: str
    id: str | None = None
    status: str | None = None
    size_bytes: int | None = None
    detail: str = ""


class CleanupReport(Report):
    """What a ``cleanup`` hook removed (or would remove, with ``dry_run``)."""

    backend: str
    where: str = Field(description="What was swept, e.g. s3://bucket/prefix/.")
    removed: int
    bytes: int
    kept: int
    dry_run: bool

    def human(self) -> str:
        verb = "would remove" if self.dry_run else "removed"
        return (
            f"{self.backend}: {verb} {self.removed} objects ({self.bytes / 1e6:.1f} MB) "
            f"from {self.where}; {self.kept} kept"
        )


class ModelsTarget(Protocol):
    """Where ``models sync --to <backend>`` puts verified weights (a volume, a bucket);
    made by the ``sync_models`` hook, which checks access before anything is downloaded."""

    name: str

    def upload(self, entries: list[Any], store: Any) -> ModelsUpload: ...


# The hooks a backend may declare, with what they are called with and return:
HOOKS = (
    "deploy",  # (settings, options: its deploy_options, say: Say) -> Report
    "sync_models",  # (settings) -> ModelsTarget, reached before anything is downloaded
    "resources",  # (settings) -> list[Resource]: what it has running or stored
    "cleanup",  # (settings, older_than: timedelta, dry_run: bool) -> CleanupReport
    "offers",  # (settings, catalog) -> the catalog's GPU Prices it runs a clip on
    "rate",  # (settings, catalog, price, notes: list[str] | None) -> USD per billed second
    "refresh_prices",  # (settings) -> cost.refresh.RefreshResult
    "serve",  # (host, port, workers, execution_timeout_s) -> a local endpoint
    "pod",  # (host, port) -> never returns: `worker pod`, inside a pod
)


class BackendSpec(BaseModel):
    """A backend, as data: what the registry, the configuration and the CLI read."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    name: str
    summary: str = Field(description="One line for `run --help` and the docs.")
    aliases: list[str] = Field(
        default_factory=list,
        description="Other names it answers to (`models sync --to runpod`: the volume both "
        "RunPod backends read).",
    )
    runner: str = Field(description='"module:Class" of its Backend, built with the settings.')
    settings_key: str | None = Field(
        None, description="Its section of the settings; several backends may share one."
    )
    settings: type[BaseModel] | None = None
    env_aliases: dict[str, str] = Field(
        default_factory=dict,
        description="Other tools' variables it honours: NAME -> field of its section.",
    )
    options: type[BaseModel] | None = Field(
        None, description="`run` options; each sets the field of that name in its section."
    )
    deploy_options: type[BaseModel] | None = Field(
        None, description="Options of `deploy <name>` (its --json is the CLI's)."
    )
    deploy_help: str = Field("", description="`deploy <name>`: its one-line help ...")
    deploy_epilog: str = Field("", description="... and its examples and notes.")
    run_examples: list[str] = Field(
        default_factory=list, description="Lines for `run --help`'s examples."
    )
    hooks: dict[str, str] = Field(default_factory=dict, description='name -> "module:function"')

    def model_post_init(self, _: Any) -> None:
        unknown = set(self.hooks) - set(HOOKS)
        if unknown:
            raise ValueError(f"{self.name}: unknown hooks {sorted(unknown)}")
        if (self.settings is None) != (self.settings_key is None):
            raise ValueError(f"{self.name}: settings and settings_key go together")
        if self.options is not None and self.settings is not None:
            missing = set(self.options.model_fields) - set(self.settings.model_fields)
            if missing:
                raise ValueError(f"{self.name}: options {sorted(missing)} are not settings")

    def hook(self, name: str) -> Callable[..., Any] | None:
        """The hook called ``name`` (its module imported now), or None if it has none."""
        target = self.hooks.get(name)
        return None if target is None else load(target)

    def has(self, name: str) -> bool:
        return name in self.hooks


def load(target: str) -> Any:
    """``"package.module:attribute"`` -> the attribute (the module imported only now)."""
    module, _, attribute = target.partition(":")
    return getattr(importlib.import_module(module), attribute)
