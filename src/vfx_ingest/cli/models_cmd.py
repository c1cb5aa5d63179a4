"""``vfx-ingest models``: list, sync, verify, lock the model weights; print where one is."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ..backends import with_hook
from .output import errors_to_exit_codes

if TYPE_CHECKING:
    from ..backends.base import ModelsTarget
    from ..config import Settings
    from ..models.registry import ModelEntry, Registry
    from ..models.store import Location, Store

app = typer.Typer(add_completion=False, no_args_is_help=True)

# Backends whose model store `models sync --to` fills (a volume, a bucket).
TARGETS = [spec.name for spec in with_hook("sync_models")]

IDS = typer.Argument(help="Model ids (see `vfx-ingest models list`).", show_default=False)
JSON = typer.Option("--json", help="JSON lines on stdout.")
LOCK = typer.Option("--lock", help="The lock file (default: the nearest models.lock).")


@app.callback()
def models() -> None:
    """Download, verify and lock model weights."""


def _context(lock: Path | None = None) -> tuple[Settings, Registry, Store]:
    from ..config import load_settings
    from ..models.runtime import registry_for, store_for

    settings = load_settings()
    return settings, registry_for(settings), store_for(settings, lock)


def _stages(value: str | None) -> list[str]:
    return [s.strip() for s in (value or "").split(",") if s.strip()]


@app.command(
    "list",
    epilog="Examples:\n\n  vfx-ingest models list\n\n  vfx-ingest models list --stage depth\n\n"
    "  vfx-ingest models list --json | jq -r 'select(.cached) | .id'",
)
def list_(
    stage: Annotated[str | None, typer.Option("--stage", help="Only this stage's models.")] = None,
    as_json: Annotated[bool, JSON] = False,
) -> None:
    """Every model: stage, size, license, commercial use, gated, where it is cached."""
    with errors_to_exit_codes(as_json=as_json):
        from .output import emit_json, out
        from .tables import models_table

        _, registry, store = _context()
        entries = [m for m in registry.models.values() if stage in (None, m.stage)]
        found = {m.id: store.locate(m) for m in entries}
        sizes = {m.id: _size(m, found[m.id]) for m in entries}
        if as_json:
            for m in entries:
                location = found[m.id]
                emit_json(
                    {
                        **m.model_dump(mode="json", exclude={"instructions"}),
                        "size": sizes[m.id],
                        "cached": str(location.folder) if location else None,
                    }
                )
            return
        folders = {k: v.folder if v else None for k, v in found.items()}
        out.print(models_table(entries, folders, sizes))


def _size(entry: ModelEntry, location: Location | None) -> int | None:
    """Bytes: published, else as cached here; None when neither is known."""
    if entry.size is not None or location is None:
        return entry.size
    return sum((location.folder / f.path).stat().st_size for f in entry.files)


@app.command(
    "sync",
    epilog="Examples:\n\n"
    "  vfx-ingest models sync                      # the default model of every stage\n\n"
    "  vfx-ingest models sync vda-small sam2.1-hiera-large\n\n"
    "  vfx-ingest models sync --stages depth,roto\n\n"
    "  vfx-ingest models sync --locked             # exactly what models.lock pins\n\n"
    "  HF_TOKEN=hf_... vfx-ingest models sync sam3  # gated: accept the license first\n\n"
    + "".join(
        f"  vfx-ingest models sync vda-small --to {name}  # then into its store\n\n"
        for name in TARGETS
    )
    + "Exit codes: 0 all present, 1 a download failed or did not verify, 2 a model needs "
    "something from you (a license to accept, a token, a registration).",
)
def sync(
    ids: Annotated[list[str] | None, IDS] = None,
    stages: Annotated[
        str | None, typer.Option("--stages", "-s", help="Default models of these stages.")
    ] = None,
    everything: Annotated[bool, typer.Option("--all", help="Every model in the registry.")] = False,
    locked: Annotated[
        bool, typer.Option("--locked", help="Only what models.lock pins; refuse anything else.")
    ] = False,
    lock: Annotated[Path | None, LOCK] = None,
    jobs: Annotated[int, typer.Option("--jobs", "-j", min=1, help="Parallel downloads.")] = 4,
    timeout: Annotated[
        float, typer.Option("--timeout", min=0.1, help="Seconds without data before a retry.")
    ] = 30.0,
    retries: Annotated[int, typer.Option("--retries", min=0, help="Retries per file.")] = 3,
    to: Annotated[
        str | None,
        typer.Option(
            "--to",
            help=f"Then upload them into this backend's model store ({', '.join(TARGETS)}), "
            "skipping files already there with the same digest.",
        ),
    ] = None,
    as_json: Annotated[bool, JSON] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only errors on stderr.")] = False,
) -> None:
    """Download what is missing, in parallel, resumable, verified by sha256.

    Hub models go into huggingface_hub's cache (HF_HOME, HF_TOKEN, HF_ENDPOINT and
    HF_HUB_OFFLINE apply); others into models_dir. With --to BACKEND, the verified
    weights then go into that backend's model store, where its workers read them.
    """
    with errors_to_exit_codes(as_json=as_json):
        from ..models.sync import Syncer
        from .downloads import HumanDownloads, JsonDownloads, report_failures

        settings, registry, store = _context(lock)
        remote = _models_target(to, settings) if to is not None else None
        named = bool(ids or stages or everything)
        entries = registry.select(ids or [], _stages(stages), everything)
        if not named:
            entries = [m for s in registry.stages() if (m := registry.default_for(s))]
        if everything:
            # --all fetches what can be fetched; manual models are listed, not failed.
            entries = [m for m in entries if not m.manual]
        display = JsonDownloads() if as_json else HumanDownloads(quiet=quiet)
        with display:
            syncer = Syncer(
                store,
                on_event=display,
                locked=locked,
                jobs=jobs,
                timeout=timeout,
                retries=retries,
            )
            results = syncer.run(entries)
        failed = [r for r in results if r.status in ("failed", "manual")]
        if failed:
            from ..errors import VfxIngestError

            report_failures(failed)
            # Each result's error line is complete already (what, where, what to do).
            error = VfxIngestError(failed[-1].error or "")
            error.exit_code = max(r.exit_code for r in failed)
            raise error
        if remote is not None:
            _upload(remote, entries, store, as_json=as_json, quiet=quiet)


def _models_target(name: str, settings: Settings) -> ModelsTarget:
    """The backend's model store, reached before any download (so a bad token fails first)."""
    from ..backends import hook_of

    return hook_of(name, "sync_models", "model store to sync to")(settings)


def _upload(
    target: ModelsTarget, entries: list[ModelEntry], store: Store, *, as_json: bool, quiet: bool
) -> None:
    import contextlib

    from .output import emit_json, err, out

    busy = f"uploading to {target.name}"
    with contextlib.nullcontext() if quiet or as_json else err.status(busy, spinner="dots"):
        report = target.upload(entries, store)
    if as_json:
        for row in report.models:
            emit_json({"type": "uploaded", **row.model_dump(mode="json")})
    else:
        out.print(report.human())


@app.command(
    "verify",
    epilog="Examples:\n\n  vfx-ingest models verify\n\n  vfx-ingest models verify vda-small\n\n"
    "Exit codes: 0 nothing corrupt, 1 a cached file does not match its digest.",
)
def verify(
    ids: Annotated[list[str] | None, IDS] = None,
    lock: Annotated[Path | None, LOCK] = None,
    as_json: Annotated[bool, JSON] = False,
) -> None:
    """Re-hash what is cached: each model ok, missing or corrupt."""
    with errors_to_exit_codes(as_json=as_json):
        from ..errors import VfxIngestError
        from .output import emit_json, out
        from .tables import checks_table

        _, registry, store = _context(lock)
        entries = registry.select(ids or []) if ids else list(registry.models.values())
        checks = [store.check(entry, full=True) for entry in entries]
        if as_json:
            for check in checks:
                emit_json({"type": "check", **check.model_dump(mode="json")})
        else:
            out.print(checks_table(checks))
        corrupt = [c for c in checks if c.status == "corrupt"]
        if corrupt:
            names = ", ".join(c.id for c in corrupt)
            raise VfxIngestError(
                f"{names} {'does' if len(corrupt) == 1 else 'do'} not verify",
                fix=f"Run `vfx-ingest models sync {' '.join(c.id for c in corrupt)}` "
                "to fetch the files again",
            )


@app.command(
    "lock",
    epilog="Examples:\n\n  vfx-ingest models lock            # every cached model\n\n"
    "  vfx-ingest models lock vda-small sam2.1-hiera-large\n\n"
    "  git add models.lock && git commit -m 'Pin model weights'",
)
def lock_(
    ids: Annotated[list[str] | None, IDS] = None,
    lock: Annotated[Path | None, LOCK] = None,
    as_json: Annotated[bool, JSON] = False,
) -> None:
    """Verify cached models and record them in models.lock (stdout: its path)."""
    with errors_to_exit_codes(as_json=as_json):
        from ..errors import BadInput
        from ..models.lock import default_lock_path, read_lock, write_lock
        from ..models.pin import pin
        from .output import emit_json, err

        _, registry, store = _context(lock)
        path = lock or default_lock_path()
        if ids:
            entries = registry.select(ids)
        else:
            entries = [m for m in registry.models.values() if store.locate(m)]
            if not entries:
                raise BadInput(
                    "no model is downloaded, so there is nothing to lock",
                    fix="Run `vfx-ingest models sync` first",
                )
        store.lock = None  # verify against the registry and the Hub, not the pin being moved
        updated, checks = pin(entries, store, read_lock(path))
        write_lock(path, updated)
        for check in checks:
            if as_json:
                emit_json(
                    {
                        "type": "locked",
                        "id": check.id,
                        "source": check.source,
                        "digest": check.digest,
                        "lock": str(path),
                    }
                )
            else:
                err.print(f"[green]✓[/] {check.id}: locked ({check.source})")
        if not as_json:
            sys.stdout.write(f"{path}\n")


@app.command(
    "path",
    epilog='Examples:\n\n  ls "$(vfx-ingest models path vda-small)"\n\n'
    '  cp SMPLX_*.npz "$(vfx-ingest models path smplx)"/',
)
def path(model_id: Annotated[str, typer.Argument(help="A model id.")]) -> None:
    """Print a model's local folder (for manual models: where to put the files)."""
    with errors_to_exit_codes():
        from ..errors import BadInput
        from ..models.runtime import sync_hint

        _, registry, store = _context()
        entry: ModelEntry = registry.get(model_id)
        location = store.locate(entry)
        if location is None and entry.manual:
            folder = store.own_dir(entry)
            folder.mkdir(parents=True, exist_ok=True)
        elif location is None:
            raise BadInput(f"model {model_id} is not downloaded", fix=sync_hint(entry))
        else:
            folder = location.folder
        sys.stdout.write(f"{folder}\n")
