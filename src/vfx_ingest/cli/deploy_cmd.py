"""``vfx-ingest deploy``: build and register remote workers."""

from __future__ import annotations

import shlex
import shutil
from pathlib import Path
from typing import Annotated, Literal

import typer

from .output import errors_to_exit_codes

app = typer.Typer(add_completion=False, no_args_is_help=True)

EXAMPLES = """
Examples:

  vfx-ingest deploy runpod-serverless --image ghcr.io/me/worker:0.1.0

  vfx-ingest deploy runpod-serverless --image me/worker:1 --gpu "NVIDIA L40S"

  vfx-ingest deploy runpod-serverless --image me/worker:1 --context-only

Needs RUNPOD_API_KEY (never in a project file) unless --context-only.

Writes the image's build context, builds and pushes the image when docker is
installed (else prints the commands), creates or updates the template and the
endpoint, and saves the endpoint id in the user config.

Models: bake copies what models.lock pins into the image; volume reads them
from the endpoint's network volume (runpod.network_volume_id).
"""

MODAL_EXAMPLES = (
    "Examples:\n\n"
    "  modal token new                         # once: Modal's own login\n\n"
    "  vfx-ingest deploy modal\n\n"
    "  vfx-ingest deploy modal --gpu L40S      # GPU stages on L40S, not the cheapest fit\n\n"
    "  vfx-ingest deploy modal --json | jq -r '.classes[].functions[]'\n\n"
    "Builds this package's wheel and an image with it (Python as here, torch from PyPI's "
    "CUDA builds when a stage uses it), the volumes vfx-models and vfx-shots, and one class "
    "per GPU type, and deploys the app (modal.app_name, default vfx-ingest).\n\n"
    "Then: `vfx-ingest models sync --to modal`, and `vfx-ingest run clip.mp4 --backend "
    "modal`.\n\n"
    "Exit codes: 0 deployed, 1 the deploy failed, 2 no token or bad settings."
)


@app.callback()
def deploy() -> None:
    """Deploy remote workers: a RunPod serverless endpoint, or the Modal app."""


@app.command("runpod-serverless", epilog=EXAMPLES)
def runpod_serverless(
    image: Annotated[
        str | None,
        typer.Option("--image", help="Image to build and push, registry/name:tag (runpod.image)."),
    ] = None,
    gpu: Annotated[
        list[str] | None,
        typer.Option("--gpu", help="GPU type, repeatable, in order of preference."),
    ] = None,
    models: Annotated[
        Literal["bake", "volume"] | None,
        typer.Option("--models", help="bake: weights in the image; volume: on the network volume."),
    ] = None,
    base_image: Annotated[
        str | None, typer.Option("--base-image", help="CUDA PyTorch base image.")
    ] = None,
    context: Annotated[
        Path, typer.Option("--context", help="Where to write the build context.")
    ] = Path("build/runpod-worker"),
    context_only: Annotated[
        bool,
        typer.Option("--context-only", help="Only write the context and print the commands."),
    ] = False,
    no_docker: Annotated[
        bool, typer.Option("--no-docker", help="Print the docker commands instead of running them.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object on stdout.")] = False,
) -> None:
    """Build the worker image and create or update the RunPod serverless endpoint."""
    with errors_to_exit_codes(as_json=as_json):
        from ..backends.runpod import deploy as rp_deploy
        from ..config import load_settings, save_user_values
        from ..errors import BadInput
        from .output import emit_json, err

        settings = load_settings()
        rp = settings.runpod
        if gpu:
            rp.gpu_types = gpu
        chosen = image or rp.image
        if not chosen:
            raise BadInput(
                "no image name", fix="Give --image registry/name:tag (or set runpod.image)"
            )
        if not context_only and rp.api_key is None:
            raise BadInput(
                "creating the endpoint needs a RunPod API key",
                fix="Set RUNPOD_API_KEY, or use --context-only",
            )
        mode = models or ("volume" if rp.network_volume_id else "bake")
        built = rp_deploy.write_context(
            context, settings, models=mode, base_image=base_image or rp_deploy.DEFAULT_BASE_IMAGE
        )
        commands = rp_deploy.docker_commands(built, chosen)
        run_docker = not (context_only or no_docker) and shutil.which("docker") is not None
        report: dict = {
            "context": str(built.folder),
            "wheel": built.wheel.name,
            "models": mode,
            "baked": built.baked,
            "lock": str(built.lock) if built.lock else None,
            "docker": [shlex.join(c) for c in commands],
            "docker_ran": run_docker,
        }
        if not as_json:
            err.print(f"build context: {built.folder} ({built.wheel.name}, models: {mode})")
            if built.baked:
                err.print(f"baked from models.lock: {', '.join(built.baked)}")
            elif mode == "bake":
                err.print("[yellow]no models.lock here: the image holds no model weights[/]")
        if run_docker:
            rp_deploy.run_docker(commands)
        elif not as_json:
            err.print(
                "build and push the image with:"
                if context_only or no_docker
                else "docker is not installed here; build and push the image with:"
            )
            for command in commands:
                typer.echo(shlex.join(command))
        if not context_only:
            done = rp_deploy.upsert(settings, chosen, mode)
            saved = save_user_values(
                {"runpod.endpoint_id": done.endpoint_id, "runpod.image": chosen}
            )
            report.update(
                template_id=done.template_id,
                endpoint_id=done.endpoint_id,
                config=str(saved),
                health=done.health,
            )
            if not as_json:
                word = "created" if done.created else "updated"
                err.print(f"endpoint {done.endpoint_id} {word}; saved in {saved}")
                if done.health is None:
                    err.print(f"[yellow]its queue API ({rp.api_url}) does not answer yet[/]")
                else:
                    workers = done.health.get("workers", {})
                    err.print(f"it answers: {workers.get('running', 0)} workers running")
                typer.echo(done.endpoint_id)
        if as_json:
            emit_json(report)


@app.command("modal", epilog=MODAL_EXAMPLES)
def modal_(
    gpu: Annotated[
        str | None,
        typer.Option("--gpu", help="GPU for GPU stages, e.g. L40S or H100:2 (modal.gpu)."),
    ] = None,
    logs: Annotated[
        bool, typer.Option("--logs", help="Show Modal's image build output (on stdout).")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object on stdout.")] = False,
) -> None:
    """Build the Modal app from the stages and deploy it; print its app and functions."""
    with errors_to_exit_codes(as_json=as_json):
        from ..backends.modal.deploy import deploy_modal
        from ..config import load_settings
        from .output import emit_json, out
        from .tables import modal_deploy_table

        settings = load_settings(**({"modal": {"gpu": gpu}} if gpu else {}))
        report = deploy_modal(settings, logs=logs and not as_json)
        if as_json:
            emit_json(report)
            return
        out.print(modal_deploy_table(report))
