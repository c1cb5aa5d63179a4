"""``vfx-ingest deploy <backend>``: one sub-command per backend with a ``deploy`` hook.

Each sub-command's options are the fields of the pydantic model the backend declares
(``BackendSpec.deploy_options``), its help and examples the backend's own; the command
parses, calls the hook, and prints the hook's report (one JSON object with --json).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Annotated, Any

import typer
from pydantic import BaseModel

from ..backends import with_hook
from ..backends.base import BackendSpec
from .output import errors_to_exit_codes

app = typer.Typer(add_completion=False, no_args_is_help=True)


@app.callback()
def deploy() -> None:
    """Deploy a remote backend's workers (its endpoint, app or image)."""


def _parameters(model: type[BaseModel] | None) -> list[inspect.Parameter]:
    """One keyword parameter per field, its option named after it (``--context-only``)."""
    params = []
    for field, info in (model.model_fields if model else {}).items():
        option = typer.Option(f"--{field.replace('_', '-')}", help=info.description)
        params.append(
            inspect.Parameter(
                field,
                inspect.Parameter.KEYWORD_ONLY,
                default=info.get_default(call_default_factory=True),
                annotation=Annotated[info.annotation, option],
            )
        )
    return params


def _command(spec: BackendSpec) -> Callable[..., None]:
    def command(
        as_json: Annotated[bool, typer.Option("--json", help="One JSON object on stdout.")] = False,
        **given: Any,
    ) -> None:
        with errors_to_exit_codes(as_json=as_json):
            from ..config import load_settings
            from .output import Say, emit_json, out

            options = spec.deploy_options.model_validate(given) if spec.deploy_options else None
            hook = spec.hook("deploy")
            assert hook is not None
            report = hook(load_settings(), options, Say(json=as_json))
            if as_json:
                emit_json(report)
            elif (shown := report.human()) is not None:
                out.print(shown)

    signature = inspect.signature(command, eval_str=True)
    command.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=[
            *_parameters(spec.deploy_options),
            signature.parameters["as_json"].replace(kind=inspect.Parameter.KEYWORD_ONLY),
        ]
    )
    command.__doc__ = spec.deploy_help
    return command


for _spec in with_hook("deploy"):
    app.command(_spec.name, epilog=_spec.deploy_epilog)(_command(_spec))
