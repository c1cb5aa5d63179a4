"""``vfx-ingest run``: the stages' and backends' options are derived from their models.

Each field of a stage's pydantic params becomes an option in a help panel named after the
stage (``--max-size`` from ``IngestParams.max_size``), so the options, the job schema and
the docs cannot drift apart; each field of a backend's run options model (``--gpu``,
``--ephemeral``) becomes one in the "Backend options" panel. Options default to "not
given": settings and the model's own default apply underneath.
"""

from __future__ import annotations

import inspect
import sys
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal

import typer

from ..backends import BACKENDS, run_options
from ..stages import REGISTRY
from ..stages.base import StageSpec
from .help import backend_choices, stage_choices
from .output import errors_to_exit_codes, keep_stdout_for_json

app = typer.Typer(add_completion=False)

BACKEND_PANEL = "Backend options"
BACKEND_PREFIX = "backend__"

EXAMPLES = """
Examples:

  vfx-ingest run clip.mp4                                # ingest into ./clip/

  vfx-ingest run clip.mp4 --shot shots/sh010 --start 1010 --end 1100

  vfx-ingest run clip.mp4 --plate-format exr --max-size 1920

  vfx-ingest run clip.mp4 --stages ingest,depth --preview   # depth/depth.1001.exr ...

  vfx-ingest run clip.mp4 --json | jq 'select(.type=="result")'

{backend_examples}

On success stdout holds the shot folder's path (or, with --json, JSON lines only; the
last, {"type": "result", ...}, has the shot folder's absolute path as "shot").
Exit codes: 0 success, 1 a stage failed, 2 usage or bad input, 130 interrupted.
""".replace(
    "{backend_examples}",
    "\n\n".join(f"  {line}" for spec in BACKENDS.values() for line in spec.run_examples),
)


def option_flag(spec: StageSpec, field: str) -> str:
    info = spec.params.model_fields[field]
    extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
    return str(extra.get("cli") or f"--{field.replace('_', '-')}")


def _optional(annotation: Any) -> Any:
    """``X | None`` for any field type, so "not given" is distinguishable from a value."""
    return annotation if type(None) in typing.get_args(annotation) else annotation | None


def _parameter(name: str, info: Any, flag: str, panel: str, help_text: str | None) -> Any:
    default = info.get_default(call_default_factory=True)
    shown = "" if default is None or default is False else f" \\[default: {default}]"
    option = typer.Option(
        flag,
        # The default in the text: the option's own default is None ("not given").
        help=f"{help_text or ''}{shown}",
        rich_help_panel=panel,
        show_default=False,
    )
    return inspect.Parameter(
        name,
        inspect.Parameter.KEYWORD_ONLY,
        default=None,
        annotation=Annotated[_optional(info.annotation), option],
    )


def backend_options() -> dict[str, tuple[str, inspect.Parameter]]:
    """Python parameter name -> (field, parameter) for every backend's run option."""
    options = {}
    for field, (info, owners) in run_options().items():
        name = f"{BACKEND_PREFIX}{field}"
        flag = f"--{field.replace('_', '-')}"
        help_text = f"{(info.description or '').rstrip('.')} ({', '.join(owners)})."
        options[name] = (field, _parameter(name, info, flag, BACKEND_PANEL, help_text))
    return options


def stage_options() -> dict[str, tuple[str, str, inspect.Parameter]]:
    """Python parameter name -> (stage, field, parameter) for every stage option."""
    options: dict[str, tuple[str, str, inspect.Parameter]] = {}
    for spec in REGISTRY.values():
        panel = f"{spec.name.capitalize()} options"
        for field, info in spec.params.model_fields.items():
            name = f"{spec.name}__{field}"
            flag = option_flag(spec, field)
            options[name] = (
                spec.name,
                field,
                _parameter(name, info, flag, panel, info.description),
            )
    return options


def run(
    clip: Annotated[Path, typer.Argument(help="The clip to ingest (mp4, mov, mkv...).")],
    stages: Annotated[
        str | None,
        typer.Option(
            "--stages",
            "-s",
            help=f"Comma-separated stages: {stage_choices()} (default from config).",
        ),
    ] = None,
    shot: Annotated[
        Path | None, typer.Option("--shot", help="Shot folder (default: ./<clip name>).")
    ] = None,
    backend: Annotated[
        str | None,
        typer.Option("--backend", "-b", help=f"Where to run: {backend_choices()}."),
    ] = None,
    device: Annotated[
        Literal["auto", "cpu", "cuda"] | None,
        typer.Option("--device", help="Local device for GPU-capable stages."),
    ] = None,
    max_workers: Annotated[
        int | None,
        typer.Option(
            "--max-workers", min=1, help="Remote jobs at once when a stage fans out over chunks."
        ),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Rerun stages even when their cache matches.")
    ] = False,
    max_cost: Annotated[
        float | None,
        typer.Option(
            "--max-cost",
            min=0,
            help="USD: refuse to start (exit 2) when the estimate is over; stop remote work "
            "when the running cost passes it (exit 1).",
        ),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="JSON lines on stdout: events, records, result.")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only errors on stderr.")] = False,
    **given: Any,
) -> None:
    """Run stages on a clip and write the passes into its shot folder.

    Unchanged stages with intact outputs are skipped; an interrupted run resumes.
    """
    with errors_to_exit_codes(as_json=as_json):
        if as_json:
            keep_stdout_for_json()
        from .. import pipeline
        from ..config import load_settings
        from ..errors import StageFailed
        from .progress import HumanProgress, JsonProgress

        settings = load_settings(
            stages=stages, backend=backend, device=device, max_workers=max_workers
        )
        request = pipeline.RunRequest(
            clip=clip,
            shot=shot,
            params=given_params(given),
            force=force,
            max_cost=max_cost,
            backend_options={
                field: given[name] for name, (field, _) in _BACKEND_OPTIONS.items() if name in given
            },
        )
        display = JsonProgress() if as_json else HumanProgress(quiet=quiet)
        with display:
            result = pipeline.run(request, settings, display)
        job_shot = request.shot or pipeline.shot_folder_for(clip, settings)
        if as_json:
            from .output import emit_json

            emit_json({**result.model_dump(mode="json"), "shot": str(job_shot.absolute())})
        if result.status == "failed":
            failed = result.records[-1].stage if result.records else "run"
            raise StageFailed(f"{failed} failed: {result.error}")
        if result.frames is not None and result.frames.damaged and not quiet:
            from .output import warn

            warn(
                f"frames {result.frames.damaged} come from a damaged clip (kept with "
                "--allow-damaged; recorded in shot.json)"
            )
        if not as_json:
            sys.stdout.write(f"{job_shot}\n")


_OPTIONS = stage_options()
_BACKEND_OPTIONS = backend_options()


def given_params(given: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Stage options given on the command line, as {stage: {field: value}}."""
    params: dict[str, dict[str, Any]] = {}
    for name, value in given.items():
        if value is not None and name in _OPTIONS:
            stage, field, _ = _OPTIONS[name]
            params.setdefault(stage, {})[field] = value
    return params


def with_stage_options(
    command: Callable[..., None], *, backends: bool = False
) -> Callable[..., None]:
    """Give ``command`` (which takes ``**given``) every stage's options as parameters, and
    with ``backends`` every backend's run options too."""
    signature = inspect.signature(command, eval_str=True)
    extra = [param for _, _, param in _OPTIONS.values()]
    if backends:
        extra += [param for _, param in _BACKEND_OPTIONS.values()]
    command.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=[
            *(p for p in signature.parameters.values() if p.kind != p.VAR_KEYWORD),
            *extra,
        ]
    )
    return command


app.command("run", epilog=EXAMPLES)(with_stage_options(run, backends=True))
