"""Estimates: monotone in frames and pixels, calibrated by measured runs, priced right."""

from __future__ import annotations

import math
import uuid
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vfx_ingest.config import load_settings
from vfx_ingest.cost.catalog import bundled_catalog
from vfx_ingest.cost.estimate import ClipPlan, Estimator
from vfx_ingest.cost.history import History, RunRow
from vfx_ingest.cost.throughput import load_throughput
from vfx_ingest.stages import get_stage
from vfx_ingest.stages.base import DeviceNeeds, StageSpec
from vfx_ingest.stages.ingest import IngestParams

INGEST = get_stage("ingest")
# The depth stage is being built elsewhere; estimates key on the stage's name and device
# needs, which is all this declaration carries (it is never run).
DEPTH = StageSpec(
    name="depth",
    version="test",
    summary="depth",
    needs=("plate",),
    produces=("depth",),
    params=IngestParams,
    run=lambda ctx, params: None,  # type: ignore[arg-type,return-value]
    device=DeviceNeeds(accelerator="optional", min_vram_gb=8),
)


def plan(frames: int = 96, width: int = 640, height: int = 360) -> ClipPlan:
    return ClipPlan(
        clip="clip.mp4",
        source_bytes=frames * width * height // 10,
        frames=frames,
        width=width,
        height=height,
        stages=["ingest", "depth"],
    )


def estimator(tmp_path, **cost) -> Estimator:
    settings = load_settings(cost={"history_db": tmp_path / "history.sqlite", **cost})
    return Estimator(settings)


def row(report, backend, gpu):
    return next(r for r in report.rows if r.backend == backend and r.gpu == gpu)


def run_row(stage, device_key, frames, width, height, wall, backend="local", **extra) -> RunRow:
    return RunRow(
        recorded_at=datetime.now(UTC),
        job_id=uuid.uuid4().hex,
        shot="/shots/a",
        stage=stage,
        version="1",
        backend=backend,
        device="cpu" if device_key.startswith("cpu") else device_key,
        device_key=device_key,
        frames=frames,
        width=width,
        height=height,
        wall_s=wall,
        **extra,
    )


@settings(max_examples=40, deadline=None)
@given(
    frames=st.integers(1, 5000),
    more_frames=st.integers(0, 5000),
    unit=st.integers(1, 256),
    scale=st.integers(1, 4),
)
def test_estimates_are_monotone_in_frames_and_pixels(
    tmp_path_factory, frames, more_frames, unit, scale
):
    # 16:9 at every size: the aspect stays put while the pixels grow (depth resizes its
    # input to a fixed short side, so its work depends on the aspect, not the pixels).
    est = estimator(tmp_path_factory.mktemp("h"))
    width, height = 16 * unit, 9 * unit
    base = est.report(plan(frames, width, height), [INGEST, DEPTH])
    longer = est.report(plan(frames + more_frames, width, height), [INGEST, DEPTH])
    bigger = est.report(plan(frames, width * scale, height * scale), [INGEST, DEPTH])
    assert base.rows
    for other in (longer, bigger):
        after = {(r.backend, r.price_id): r for r in other.rows}
        assert set(after) == {(r.backend, r.price_id) for r in base.rows}
        for before in base.rows:
            grown = after[before.backend, before.price_id]
            assert grown.wall_s >= before.wall_s - 1e-9
            assert grown.usd >= before.usd - 1e-12


def test_cheapest_and_fastest_are_marked_once_among_runnable_offers(tmp_path):
    report = estimator(tmp_path).report(plan(), [INGEST, DEPTH])
    assert sum(r.cheapest for r in report.rows) == 1
    assert sum(r.fastest for r in report.rows) == 1
    runnable = [r for r in report.rows if r.installed]
    cheapest = next(r for r in report.rows if r.cheapest)
    fastest = next(r for r in report.rows if r.fastest)
    assert cheapest.installed and fastest.installed
    assert cheapest.usd == min(r.usd for r in runnable)
    assert fastest.wall_s == min(r.wall_s for r in runnable)
    # A backend this version cannot run (RunPod pods) is still estimated, never marked,
    # even where it is the cheapest or fastest of all.
    pods = [r for r in report.rows if not r.installed]
    assert pods and {r.backend for r in pods} == {"runpod-pod"}
    assert min(r.usd for r in pods) < cheapest.usd or min(r.wall_s for r in pods) < fastest.wall_s
    remote = {r.backend for r in runnable}
    assert {"runpod-serverless", "modal"} <= remote


def test_cpu_stages_are_priced_on_cpu_offers_only_and_local_costs_nothing(tmp_path):
    report = estimator(tmp_path).report(plan(), [INGEST])
    (local,) = report.rows  # ingest needs no GPU: no GPU offer is priced for it
    assert (local.backend, local.gpu, local.usd, local.installed) == ("local", "cpu", 0, True)
    assert local.cheapest and local.fastest
    catalog = bundled_catalog()
    remote = [p for p in catalog.gpu_offers() if p.backend != "local"]
    assert len(report.skipped) >= len(catalog.gpu_offers("modal")) > 0
    assert {s.backend for s in report.skipped} == {p.backend for p in remote}
    assert all("run on a CPU only" in s.reason for s in report.skipped)


def test_a_gpu_stage_needs_a_gpu_figure_or_is_skipped_with_the_reason(tmp_path):
    report = estimator(tmp_path).report(plan(), [INGEST, DEPTH], backends=["local"])
    assert report.rows == []  # no CPU figure for depth until it is measured
    (skipped,) = report.skipped
    assert "no time figure for depth on the CPU" in skipped.reason


def test_remote_estimate_adds_up_from_its_parts(tmp_path):
    est = estimator(tmp_path)
    report = est.report(plan(), [INGEST, DEPTH], backends=["runpod-serverless"], gpus=["A100"])
    (a100,) = report.rows
    flex = bundled_catalog().price("runpod-serverless/flex/AMPERE_80")
    work = sum(s.seconds for s in a100.stages)
    billed = math.ceil(a100.cold_start_s + work + 5)  # per second, 5 s idle timeout
    assert a100.billed_s == billed
    assert a100.compute_usd == pytest.approx(billed * flex.usd)
    s3_egress = bundled_catalog().price("s3/egress").usd
    down = sum(s.output_bytes for s in a100.stages)
    assert a100.transfer_usd >= down / 1e9 * s3_egress
    assert a100.usd == pytest.approx(a100.compute_usd + a100.transfer_usd)
    seed = load_throughput().seed("depth")
    work_mp = (518 * 640 / 360) * 518 / 1e6
    depth = next(s for s in a100.stages if s.stage == "depth")
    assert depth.seconds == pytest.approx(96 * seed.s_per_mp * work_mp)  # A100 is the reference


def test_faster_gpus_are_timed_faster_by_tflops(tmp_path):
    report = estimator(tmp_path).report(plan(), [DEPTH], backends=["modal"])
    a100, h100 = row(report, "modal", "A100-80GB"), row(report, "modal", "H100-SXM")
    depth = {r.gpu: r.stages[0].seconds for r in (a100, h100)}
    assert depth["H100-SXM"] == pytest.approx(depth["A100-80GB"] * 312 / 989.5)


def test_r2_transfers_cost_no_egress(tmp_path):
    settings = load_settings(
        cost={"history_db": tmp_path / "h.sqlite"},
        s3={"endpoint_url": "https://acct.r2.cloudflarestorage.com"},
    )
    r2 = Estimator(settings).report(plan(), [DEPTH], backends=["runpod-serverless"])
    s3 = estimator(tmp_path).report(plan(), [DEPTH], backends=["runpod-serverless"])
    assert r2.rows and all(
        r.transfer_usd < s.transfer_usd for r, s in zip(r2.rows, s3.rows, strict=True)
    )


def test_modal_multipliers_apply_to_the_resources_they_name(tmp_path):
    base = estimator(tmp_path).report(plan(), [DEPTH], backends=["modal"], gpus=["T4"])
    pinned = estimator(tmp_path, modal_region="narrow").report(
        plan(), [DEPTH], backends=["modal"], gpus=["T4"]
    )
    assert pinned.rows[0].usd_per_second == pytest.approx(base.rows[0].usd_per_second * 1.75)
    nonpre = estimator(tmp_path, modal_nonpreemptible=True).report(
        plan(), [DEPTH], backends=["modal"], gpus=["T4"]
    )
    catalog = bundled_catalog()
    extra = 2 * (0.125 * catalog.price("modal/cpu").usd + 0.125 * catalog.price("modal/memory").usd)
    assert nonpre.rows[0].usd_per_second == pytest.approx(base.rows[0].usd_per_second + extra)


def test_calibration_moves_the_estimate_to_the_measured_value(tmp_path):
    est = estimator(tmp_path)
    seeded = row(est.report(plan(), [INGEST], backends=["local"]), "local", "cpu")
    History(est.settings.cost.history_db).add([run_row("ingest", "cpu@local", 96, 640, 360, 9.0)])
    calibrated = row(estimator(tmp_path).report(plan(), [INGEST]), "local", "cpu")
    assert seeded.stages[0].basis == "seeded"
    assert calibrated.stages[0].basis == "measured"
    assert calibrated.wall_s == pytest.approx(9.0)
    # The seed's shape carries the measurement to other sizes: same factor everywhere.
    bigger = row(estimator(tmp_path).report(plan(96, 1280, 720), [INGEST]), "local", "cpu")
    seed_big = row(est.report(plan(96, 1280, 720), [INGEST]), "local", "cpu")
    assert bigger.wall_s / seed_big.wall_s == pytest.approx(9.0 / seeded.wall_s)


def test_three_measured_sizes_fit_the_model_exactly(tmp_path):
    est = estimator(tmp_path)
    # wall = 2 + frames * (0.01 + 0.1 * mp): a setup, a per-frame and a per-pixel cost.
    truth = [(48, 320, 180), (96, 640, 360), (24, 1280, 720)]
    History(est.settings.cost.history_db).add(
        [
            run_row("ingest", "cpu@local", f, w, h, 2 + f * (0.01 + 0.1 * w * h / 1e6))
            for f, w, h in truth
        ]
    )
    fitted = estimator(tmp_path).model("ingest", "local", None)
    assert fitted.basis == "measured" and fitted.runs == 3
    assert (fitted.setup_s, fitted.s_per_frame, fitted.s_per_mp) == pytest.approx((2, 0.01, 0.1))


def test_a_gpu_measured_anywhere_times_that_gpu_everywhere_and_scales_to_others(tmp_path):
    est = estimator(tmp_path)
    History(est.settings.cost.history_db).add(
        [run_row("depth", "gpu:A100-80GB", 96, 640, 360, 30.0, backend="runpod-serverless")]
    )
    report = estimator(tmp_path).report(plan(), [DEPTH], backends=["modal"])
    a100 = row(report, "modal", "A100-80GB").stages[0]
    h100 = row(report, "modal", "H100-SXM").stages[0]
    assert a100.basis == "measured" and a100.seconds == pytest.approx(30.0)
    assert h100.basis == "scaled" and h100.seconds == pytest.approx(30.0 * 312 / 989.5)


def test_measured_cold_starts_replace_the_seed(tmp_path):
    est = estimator(tmp_path)
    seeded, _ = est.cold_start("modal")
    History(est.settings.cost.history_db).add(
        [
            run_row("ingest", "gpu:T4", 10, 64, 48, 1.0, backend="modal", cold_start_s=s)
            for s in (4.0, 6.0, 50.0)
        ]
    )
    measured, basis = estimator(tmp_path).cold_start("modal")
    assert seeded == load_throughput().cold_start("modal").seconds
    assert measured == 6.0 and "median of 3" in basis


def test_offers_without_enough_vram_are_skipped(tmp_path):
    big = StageSpec(
        **{**DEPTH.__dict__, "device": DeviceNeeds(accelerator="required", min_vram_gb=40)}
    )
    report = estimator(tmp_path).report(plan(), [big], backends=["modal"])
    assert {r.gpu for r in report.rows} <= {"A100-40GB", "A100-80GB", "H100-SXM", "L40S"}
    assert any("the stages need 40 GB" in s.reason for s in report.skipped)


@pytest.mark.parametrize("asked", ["H100", "NVIDIA H100", "nvidia h100 80gb hbm3", "h100-sxm"])
def test_gpu_names_match_as_the_catalog_matches_them(tmp_path, asked):
    """`--gpu` takes a GPU's id, name or alias with or without the vendor's words, the way
    `Catalog.find_gpu` reads them."""
    report = estimator(tmp_path).report(plan(), [DEPTH], backends=["modal"], gpus=[asked])
    assert [r.gpu for r in report.rows] == [bundled_catalog().find_gpu("H100").id], asked
