"""What the CLI's backend-neutral commands call for RunPod serverless: ``deploy`` (the
image's build context, docker, the template and the endpoint; the endpoint id saved in the
user config) and ``cleanup`` (``storage gc``: the bucket's objects past their retention)."""

from __future__ import annotations

import shlex
import shutil
from datetime import timedelta
from typing import Any

from pydantic import Field

from ...config import Settings, save_user_values
from ...errors import BadInput
from ..base import CleanupReport, Report, Say
from .settings import ServerlessDeployOptions


class ServerlessDeployReport(Report):
    context: str
    wheel: str
    models: str
    baked: list[str]
    lock: str | None
    docker: list[str]
    docker_ran: bool
    template_id: str | None = None
    endpoint_id: str | None = None
    config: str | None = None
    health: dict[str, Any] | None = Field(None, description="The endpoint's /health answer.")


def deploy(settings: Settings, options: ServerlessDeployOptions, say: Say) -> Report:
    """Build the worker image and create or update the RunPod serverless endpoint."""
    from . import deploy as rp_deploy

    rp = settings.runpod
    if options.gpu:
        rp.gpu_types = options.gpu
    chosen = options.image or rp.image
    if not chosen:
        raise BadInput("no image name", fix="Give --image registry/name:tag (or set runpod.image)")
    if not options.context_only and rp.api_key is None:
        raise BadInput(
            "creating the endpoint needs a RunPod API key",
            fix="Set RUNPOD_API_KEY, or use --context-only",
        )
    mode = options.models or ("volume" if rp.network_volume_id else "bake")
    built = rp_deploy.write_context(
        options.context,
        settings,
        models=mode,
        base_image=options.base_image or rp_deploy.DEFAULT_BASE_IMAGE,
    )
    commands = rp_deploy.docker_commands(built, chosen)
    run_docker = not (options.context_only or options.no_docker) and shutil.which("docker")
    report = ServerlessDeployReport(
        context=str(built.folder),
        wheel=built.wheel.name,
        models=mode,
        baked=built.baked,
        lock=str(built.lock) if built.lock else None,
        docker=[shlex.join(c) for c in commands],
        docker_ran=bool(run_docker),
    )
    say.note(f"build context: {built.folder} ({built.wheel.name}, models: {mode})")
    if built.baked:
        say.note(f"baked from models.lock: {', '.join(built.baked)}")
    elif mode == "bake":
        say.note("[yellow]no models.lock here: the image holds no model weights[/]")
    if run_docker:
        rp_deploy.run_docker(commands)
    else:
        say.note(
            "build and push the image with:"
            if options.context_only or options.no_docker
            else "docker is not installed here; build and push the image with:"
        )
        for command in commands:
            say.echo(shlex.join(command))
    if options.context_only:
        return report
    done = rp_deploy.upsert(settings, chosen, mode)
    saved = save_user_values({"runpod.endpoint_id": done.endpoint_id, "runpod.image": chosen})
    report = report.model_copy(
        update={
            "template_id": done.template_id,
            "endpoint_id": done.endpoint_id,
            "config": str(saved),
            "health": done.health,
        }
    )
    word = "created" if done.created else "updated"
    say.note(f"endpoint {done.endpoint_id} {word}; saved in {saved}")
    if done.health is None:
        say.note(f"[yellow]its queue API ({rp.api_url}) does not answer yet[/]")
    else:
        workers = done.health.get("workers", {})
        say.note(f"it answers: {workers.get('running', 0)} workers running")
    say.echo(done.endpoint_id)
    return report


def cleanup(settings: Settings, older_than: timedelta, dry_run: bool) -> CleanupReport:
    """Remove the bucket's objects (uploads, passes, leftover mailboxes) older than that."""
    from ...storage import Store

    found = Store(settings.s3).gc(older_than, dry_run=dry_run)
    return CleanupReport(
        backend="runpod-serverless",
        where=f"s3://{settings.s3.bucket}/{settings.s3.prefix}",
        removed=found.removed,
        bytes=found.bytes,
        kept=found.kept,
        dry_run=dry_run,
    )
