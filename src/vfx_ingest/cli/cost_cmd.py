"""``vfx-ingest cost``: what a clip will cost before it runs, per backend and GPU.

The stage options are ``run``'s (``--max-size``, ``--start`` ...), so an estimate covers
exactly the run it is for.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from ..backends import BACKENDS, with_hook
from .output import errors_to_exit_codes
from .run_cmd import given_params, with_stage_options

app = typer.Typer(add_completion=False)

EXAMPLES = """
Examples:

  vfx-ingest cost clip.mp4 --stages depth              # every backend and GPU, ranked

  vfx-ingest cost clip.mp4 --stages depth --backend {remote} --gpu A100

  vfx-ingest cost clip.mp4 --max-size 1920 --json | jq -c 'select(.cheapest)'

  vfx-ingest cost --refresh                            # live prices ({live}) cached

  vfx-ingest cost --usage 40h/month --runs 60          # pod or serverless for a volume

  vfx-ingest cost                                      # the price catalog, dated and sourced

Backends marked * can be estimated but not yet run by this version: they are never
marked cheapest or fastest. Stages that run on a CPU only are priced on CPU offers only.
""".format(
    remote=",".join(name for name, spec in BACKENDS.items() if spec.settings_key),
    live=", ".join(spec.name for spec in with_hook("refresh_prices")),
)


def _split(value: str | None) -> list[str] | None:
    return [v.strip() for v in value.split(",") if v.strip()] if value else None


def cost(
    clip: Annotated[
        Path | None, typer.Argument(help="The clip to estimate (omit to list the prices).")
    ] = None,
    stages: Annotated[
        str | None,
        typer.Option("--stages", "-s", help="Comma-separated stages (default from config)."),
    ] = None,
    backend: Annotated[
        str | None,
        typer.Option("--backend", "-b", help="Comma-separated backends (default: all priced)."),
    ] = None,
    gpu: Annotated[
        str | None,
        typer.Option("--gpu", help="Comma-separated GPU classes or provider names (A100, H100)."),
    ] = None,
    refresh: Annotated[
        bool, typer.Option("--refresh", help="Fetch live prices where you have credentials.")
    ] = False,
    usage: Annotated[
        str | None,
        typer.Option("--usage", help="Compare pods and serverless for a volume: 40h/month."),
    ] = None,
    runs: Annotated[
        int | None,
        typer.Option("--runs", min=1, help="Runs a month, for --usage (adds cold starts)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines on stdout.")] = False,
    **given: Any,
) -> None:
    """Estimate a clip's cost per backend and GPU before it runs; list the prices."""
    with errors_to_exit_codes(as_json=as_json):
        from ..config import load_settings
        from ..cost.catalog import load_catalog
        from ..cost.estimate import Estimator
        from .output import emit_json, err, out

        settings = load_settings(stages=stages)
        if refresh:
            from ..cost.refresh import refresh as refresh_prices

            for result in refresh_prices(settings):
                if as_json:
                    emit_json({"type": "refresh", **result.model_dump()})
                else:
                    err.print(f"{result.provider}: {result.status}, {result.detail}")
        estimator = Estimator(settings, catalog=load_catalog())
        if usage is not None:
            _breakeven(estimator, usage, runs, as_json)
        if clip is not None:
            _estimate(estimator, clip, given, _split(backend), _split(gpu), as_json)
        elif usage is None and not (refresh and as_json):
            from .tables import prices_table

            if as_json:
                for price in estimator.catalog.prices:
                    emit_json({"type": "price", **price.model_dump(mode="json")})
            else:
                out.print(prices_table(estimator.catalog))


def _estimate(
    estimator: Any,
    clip: Path,
    given: dict[str, Any],
    backends: list[str] | None,
    gpus: list[str] | None,
    as_json: bool,
) -> None:
    from .. import pipeline
    from ..cost.estimate import clip_plan
    from ..io.probe import check_clip_path
    from ..stages import with_dependencies
    from .output import emit_json, out
    from .tables import estimate_footer, estimate_table

    settings = estimator.settings
    check_clip_path(clip)
    specs = with_dependencies(settings.stages)
    params = {
        spec.name: pipeline.stage_params(spec, settings, given_params(given).get(spec.name, {}))
        for spec in specs
    }
    report = estimator.report(clip_plan(clip, specs, params), specs, backends, gpus)
    if as_json:
        for row in report.rows:
            emit_json({"type": "estimate", **row.model_dump(mode="json")})
        for skipped in report.skipped:
            emit_json({"type": "skipped", **skipped.model_dump(mode="json")})
        emit_json(
            {
                "type": "summary",
                "plan": report.plan.model_dump(mode="json"),
                "prices": [p.model_dump(mode="json") for p in report.prices],
            }
        )
        return
    out.print(estimate_table(report))
    for line in estimate_footer(report, settings.cost.stale_after_days):
        out.print(line)


def _breakeven(estimator: Any, usage: str, runs: int | None, as_json: bool) -> None:
    from ..cost.breakeven import breakeven, parse_usage
    from .output import emit_json, out
    from .tables import breakeven_table

    cold = {b: estimator.cold_start(b)[0] for b in estimator.backend_names()}
    result = breakeven(estimator.catalog, estimator.settings, parse_usage(usage), runs, cold)
    if as_json:
        for row in result.rows:
            emit_json({"type": "breakeven", **row.model_dump(mode="json")})
        return
    out.print(breakeven_table(result))


app.command("cost", epilog=EXAMPLES)(with_stage_options(cost))
