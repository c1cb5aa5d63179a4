"""`deploy modal`, `models sync --to modal` and `run --backend modal`, end to end, against a
double of the few Modal calls the client makes (modal_double.py: Modal's servers cannot be
reached from CI). The double's containers are real processes that import the app and run
the worker class's method with Modal's ``.local()``, so the client's orchestration (cache
decisions, uploads, spawn, progress, cancel, verified downloads) meets the real worker.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from vfx_ingest import pipeline
from vfx_ingest.backends.modal import billing, seam
from vfx_ingest.backends.modal.shots import app_spec_path
from vfx_ingest.config import load_settings
from vfx_ingest.errors import BadInput
from vfx_ingest.job import ProgressEvent, StageEvent
from vfx_ingest.shot import ShotFolder
from vfx_ingest.stages import REGISTRY
from vfx_ingest.stages.base import Cancelled

from conftest import hub_snapshot
from modal_double import FakeModal, FakeVolume
from modal_stages import TINT, WEIGHTS

pytestmark = pytest.mark.filterwarnings("ignore:.*executing locally:UserWarning")

COMMIT = "0123456789abcdef0123456789abcdef01234567"
WEIGHT_BYTES = b"not really video depth anything" * 100


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeModal]:
    root = tmp_path / "modal"
    root.mkdir()
    # The volumes are mounted where the deployed spec says (/vfx/...): the double maps
    # those paths to each container's own views of the volumes.
    double = FakeModal(root)
    monkeypatch.setattr(seam, "connect", lambda: double)
    yield double
    double.stop_all()


@pytest.fixture
def deployed(fake: FakeModal, cli) -> FakeModal:
    result = cli("deploy", "modal", "--json")
    assert result.exit_code == 0, result.stderr
    return fake


@pytest.fixture
def tint(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """The tint stage here and in the containers, and vda-base in a Hub cache, as
    huggingface_hub lays it out (blob named by its sha256, ref for the unpinned revision)."""
    monkeypatch.setitem(REGISTRY, "tint", TINT)
    monkeypatch.setenv("VFX_TEST_STAGES", "1")
    hub = tmp_path / "hub"
    hub_snapshot(hub, "depth-anything/Video-Depth-Anything-Base", WEIGHTS, WEIGHT_BYTES, COMMIT)
    monkeypatch.setenv("VFX_INGEST_HF_CACHE", str(hub))
    return hub


def ready_for_tint(cli, clip: Path, shot: Path) -> tuple[Path, Path]:
    """A plate made here, vda-base in the models volume, the app deployed with tint."""
    assert cli("run", clip, "--shot", shot).exit_code == 0
    assert cli("models", "sync", "vda-base", "--to", "modal").exit_code == 0
    assert cli("deploy", "modal").exit_code == 0
    return clip, shot


def test_deploy_builds_the_app_and_reports_its_functions(fake, cli):
    result = cli("deploy", "modal", "--json")
    assert result.exit_code == 0, result.stderr
    (report,) = cli.json_lines(result.stdout)
    assert report["app"] == "vfx-ingest" and report["app_id"] == "ap-vfx-ingest"
    assert report["classes"] == [
        {"name": "Cpu", "gpu": None, "stages": ["ingest", "camera"], "functions": ["Cpu.run_job"]},
        {
            "name": "GpuT4",
            "gpu": "T4",
            "stages": ["depth", "roto", "matte"],
            "functions": ["GpuT4.run_job"],
        },
    ]
    assert fake.deployed["vfx-ingest"].classes[0].stages == ["ingest", "camera"]
    # Clients find the deployed classes (and its version) in the shots volume.
    spec = json.loads((fake.root / "vfx-shots" / app_spec_path("vfx-ingest")).read_text())
    assert spec["version"] == report["version"]
    human = cli("deploy", "modal")
    assert "Cpu.run_job" in human.stdout and "vfx-models" in human.stdout


def test_storage_list_shows_the_app_the_models_and_the_shot_copies(
    fake, tint, cli, clips, tmp_path
):
    """The `resources` hook of the Modal backend, through `storage list` (the registry)."""
    empty = cli("storage", "list", "--backend", "modal", "--json")
    assert empty.exit_code == 0, empty.stderr
    assert empty.stdout == ""  # no volume yet: nothing in the cloud
    clip, shot = ready_for_tint(cli, clips(frames=6), tmp_path / "shot")
    assert cli("run", clip, "--shot", shot, "--stages", "tint", "--backend", "modal").exit_code == 0
    rows = cli.json_lines(cli("storage", "list", "--json").stdout)
    assert {r["backend"] for r in rows} == {"modal"}
    by_kind: dict[str, list[dict]] = {}
    for row in rows:
        by_kind.setdefault(row["kind"], []).append(row)
    (app,) = by_kind["app"]
    assert app["name"] == "vfx-ingest" and app["status"].startswith("vfx-ingest ")
    (models,) = by_kind["volume"]
    assert models["name"] == "vfx-models" and "vda-base" in models["detail"]
    assert models["size_bytes"] == sum(
        f.stat().st_size for f in (fake.root / "vfx-models").rglob("*") if f.is_file()
    )
    (copy,) = by_kind["shot"]
    folder = fake.root / "vfx-shots" / copy["name"]
    assert copy["name"].startswith("shot-") and folder.is_dir()
    assert copy["size_bytes"] == sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
    table = cli("storage", "list")
    assert table.exit_code == 0 and copy["name"] in table.stdout


def test_run_on_modal_matches_a_local_run_and_a_rerun_starts_nothing(
    deployed, cli, clips, tmp_path
):
    clip = clips(frames=24)
    result = cli(
        "run", clip, "--backend", "modal", "--shot", tmp_path / "m", "--end", "1012", "--json"
    )
    assert result.exit_code == 0, result.stderr
    lines = cli.json_lines(result.stdout)
    kinds = [(line["type"], line.get("status")) for line in lines]
    assert kinds[0] == ("stage", "started")
    assert ("progress", None) in kinds
    assert kinds[-2:] == [("stage", "done"), ("result", "ok")]
    record = lines[-1]["records"][0]
    assert record["backend"] == "modal" and record["device"] == "cpu"
    assert record["stats"]["modal"]["class"] == "Cpu"
    assert record["stats"]["modal"]["function_call"].startswith("fc-")
    assert len(deployed.spawned) == 1 and deployed.spawned[0].job["device"] == "cpu"

    local = cli("run", clip, "--shot", tmp_path / "l", "--end", "1012")
    assert local.exit_code == 0, local.stderr
    plates = sorted((tmp_path / "m" / "plate").iterdir())
    assert [p.name for p in plates] == sorted(p.name for p in (tmp_path / "l" / "plate").iterdir())
    assert all(sha(p) == sha(tmp_path / "l" / "plate" / p.name) for p in plates)
    assert len(plates) == 12
    manifest = ShotFolder(tmp_path / "m").load_manifest()
    assert manifest is not None and manifest.frames is not None and manifest.frames.count == 12
    assert manifest.stages["ingest"].outputs["plate/plate.1001.png"].sha256 == sha(plates[0])

    again = cli(
        "run", clip, "--backend", "modal", "--shot", tmp_path / "m", "--end", "1012", "--json"
    )
    assert again.exit_code == 0
    assert cli.json_lines(again.stdout)[0]["status"] == "cached"
    assert len(deployed.spawned) == 1  # nothing was sent


def test_a_gpu_stage_reads_the_uploaded_plate_and_the_synced_model(
    deployed, tint, cli, clips, tmp_path
):
    # Synced into the volume in the Hub cache's layout; a second sync sends nothing.
    first = cli("models", "sync", "vda-base", "--to", "modal", "--json")
    assert first.exit_code == 0, first.stderr
    (sent,) = [line for line in cli.json_lines(first.stdout) if line["type"] == "uploaded"]
    assert (sent["uploaded"], sent["skipped"]) == (2, 0)  # the weights and refs/main
    volume = (
        deployed.root / "vfx-models" / "hf" / "models--depth-anything--Video-Depth-Anything-Base"
    )
    assert (volume / "snapshots" / COMMIT / WEIGHTS).read_bytes() == WEIGHT_BYTES
    assert (volume / "refs" / "main").read_text() == COMMIT
    second = cli("models", "sync", "vda-base", "--to", "modal", "--json")
    (sent,) = [line for line in cli.json_lines(second.stdout) if line["type"] == "uploaded"]
    assert (sent["uploaded"], sent["skipped"]) == (0, 2)
    (volume / "snapshots" / COMMIT / WEIGHTS).unlink()  # gone from the volume: sent again
    third = cli("models", "sync", "vda-base", "--to", "modal", "--json")
    (sent,) = [line for line in cli.json_lines(third.stdout) if line["type"] == "uploaded"]
    assert (sent["uploaded"], sent["skipped"]) == (1, 1)

    # The plate is made here; the tint stage runs on Modal and must get it from us. The
    # weights need not be here any more: the workers read them from the volume.
    clip = clips(frames=6)
    shot = tmp_path / "shot"
    assert cli("run", clip, "--shot", shot).exit_code == 0
    shutil.rmtree(tint)
    deploy = cli("deploy", "modal", "--json")  # now with tint's GPU class
    assert [c["name"] for c in json.loads(deploy.stdout)["classes"]] == ["Cpu", "GpuL4", "GpuT4"]
    result = cli(
        "run", clip, "--shot", shot, "--stages", "tint", "--backend", "modal", "--gpu", "l40s"
    )
    assert result.exit_code == 0, result.stderr

    (spawned,) = deployed.spawned
    assert (spawned.cls, spawned.gpu, spawned.models) == ("GpuL4", "L40S", "vda-base")
    weights = hashlib.sha256(WEIGHT_BYTES).hexdigest()
    for plate in sorted((shot / "plate").iterdir()):
        line = (shot / "tint" / plate.with_suffix(".txt").name).read_text()
        assert line == f"{sha(plate)} {weights}\n"
    record = ShotFolder(shot).load_manifest().stages["tint"]  # type: ignore[union-attr]
    assert record.stats["modal"]["gpu"] == "L40S" and record.stats["modal"]["gpu_seconds"] > 0
    index = json.loads((deployed.root / "vfx-models" / ".vfx-ingest-sync.json").read_text())
    assert record.models == {"vda-base": index["models"]["vda-base"]["digest"]}
    # The clip stayed here: the tint stage does not read it.
    assert not list((deployed.root / "vfx-shots").glob("shot-*/.source/*"))


def test_a_model_missing_from_the_volume_stops_the_run_before_any_container(
    deployed, tint, cli, clips, tmp_path
):
    shot = tmp_path / "shot"
    clip = clips(frames=4)
    assert cli("run", clip, "--shot", shot).exit_code == 0
    assert cli("deploy", "modal").exit_code == 0
    result = cli("run", clip, "--shot", shot, "--stages", "tint", "--backend", "modal")
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1
    assert (
        "vda-base" in result.stderr
        and "vfx-ingest models sync --to modal vda-base" in result.stderr
    )
    assert deployed.spawned == []


@pytest.mark.parametrize("problem", ["no token", "not deployed", "older deploy"])
def test_setup_problems_are_one_line_and_exit_2_before_the_shot_is_touched(
    problem, fake, cli, clips, tmp_path
):
    if problem == "no token":
        fake.token = False
        fix = "modal token new"
    else:
        assert cli("deploy", "modal").exit_code == 0
        fix = "vfx-ingest deploy modal"
        path = fake.root / "vfx-shots" / app_spec_path("vfx-ingest")
        if problem == "not deployed":
            path.unlink()
        else:
            path.write_text(json.dumps({**json.loads(path.read_text()), "version": "0.0.1"}))
    result = cli("run", clips(frames=4), "--shot", tmp_path / "shot", "--backend", "modal")
    assert result.exit_code == 2
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
    assert fix in result.stderr
    assert not (tmp_path / "shot").exists()


def test_an_unknown_gpu_is_refused_before_modal_is_called(fake, cli, clips, tmp_path):
    result = cli(
        "run", clips(frames=4), "--backend", "modal", "--gpu", "A200", "--shot", tmp_path / "s"
    )
    assert result.exit_code == 2 and "'A200' is not a Modal GPU type" in result.stderr
    assert "H100:2" in result.stderr and not (tmp_path / "s").exists()


def test_ctrl_c_cancels_the_call_and_the_next_run_completes(deployed, tint, cli, clips, tmp_path):
    clip, shot = ready_for_tint(cli, clips(frames=24), tmp_path / "shot")
    settings = load_settings(backend="modal")
    request = pipeline.RunRequest(
        clip=clip, shot=shot, stages=["tint"], params={"tint": {"pause": 0.2}}
    )

    def ctrl_c_at_first_progress(event) -> None:
        if isinstance(event, ProgressEvent) and event.unit == "frames":
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        pipeline.run(request, settings, ctrl_c_at_first_progress)
    (call,) = deployed.calls
    assert call.cancelled and call.process.returncode not in (0, None)  # the container stopped
    local = ShotFolder(shot).load_manifest().stages["tint"]  # type: ignore[union-attr]
    assert local.status == "interrupted" and "interrupted" in (local.error or "")
    remote_shot = next(
        p for p in (deployed.root / "vfx-shots").iterdir() if p.name.startswith("shot-")
    )
    remote = json.loads((remote_shot / "shot.json").read_text())["stages"]["tint"]
    assert remote["status"] == "interrupted" and "interrupted" in remote["error"]
    done = len(list((remote_shot / ".staging").glob("tint-*/tint/*.txt")))
    assert 0 < done < 24  # stopped part-way; its staging is kept for the next run

    events: list = []
    result = pipeline.run(
        pipeline.RunRequest(clip=clip, shot=shot, stages=["tint"]), settings, events.append
    )
    assert result.status == "ok" and len(list((shot / "tint").iterdir())) == 24


def test_a_cancel_request_stops_the_call(deployed, tint, cli, clips, tmp_path):
    clip, shot = ready_for_tint(cli, clips(frames=24), tmp_path / "shot")
    cancel = threading.Event()

    def stop_at_first_progress(event) -> None:
        if isinstance(event, ProgressEvent) and event.unit == "frames":
            cancel.set()  # what a cost limit or a signal handler does

    request = pipeline.RunRequest(
        clip=clip, shot=shot, stages=["tint"], params={"tint": {"pause": 0.2}}
    )
    with pytest.raises(Cancelled):
        pipeline.run(request, load_settings(backend="modal"), stop_at_first_progress, cancel)
    (call,) = deployed.calls
    assert call.cancelled and call.process.poll() is not None


def test_the_workers_error_keeps_its_kind():
    """A Modal worker answers an error as its line and exit code; a stage cancelled there
    is interrupted here (exit 130), bad input stays bad input, the rest is a failure."""
    from vfx_ingest.backends.modal.client import _result
    from vfx_ingest.errors import StageFailed

    def answer(code: int) -> dict:
        return {"error": {"line": "tint was cancelled", "exit_code": code}}

    for code, kind in ((130, Cancelled), (2, BadInput), (1, StageFailed)):
        with pytest.raises(kind, match="tint was cancelled") as caught:
            _result(answer(code), "tint")
        assert caught.value.exit_code == code


def test_a_download_that_does_not_match_its_digest_is_refused(
    deployed, cli, clips, tmp_path, monkeypatch
):
    clip = clips(frames=6)
    shot = tmp_path / "shot"
    real_read = FakeVolume.read

    def corrupting_read(self, path, into):
        if path.endswith("plate.1003.png"):
            into.write(b"\x89PNG not the frame")
            return
        real_read(self, path, into)

    monkeypatch.setattr(FakeVolume, "read", corrupting_read)
    result = cli("run", clip, "--shot", shot, "--backend", "modal")
    assert result.exit_code == 1
    assert (
        "plate/plate.1003.png came back from the Modal volume with other content" in result.stderr
    )
    assert not (shot / "plate").exists()  # nothing swapped in
    assert ShotFolder(shot).load_manifest().stages["ingest"].status == "failed"  # type: ignore[union-attr]

    monkeypatch.setattr(FakeVolume, "read", real_read)
    (remote,) = (deployed.root / "vfx-shots").glob("shot-*/shot.json")
    finished = json.loads(remote.read_text())["stages"]["ingest"]["finished_at"]
    again = cli("run", clip, "--shot", shot, "--backend", "modal", "--json")
    assert again.exit_code == 0, again.stderr
    # The remote stage was done: the worker found it cached and only the download ran.
    assert json.loads(remote.read_text())["stages"]["ingest"]["finished_at"] == finished
    assert len(list((shot / "plate").iterdir())) == 6


def test_an_ephemeral_run_needs_no_deploy_and_its_billed_cost_is_settled_later(
    fake, cli, clips, tmp_path
):
    shot = tmp_path / "shot"
    result = cli(
        "run", clips(frames=4), "--shot", shot, "--backend", "modal", "--ephemeral", "--json"
    )
    assert result.exit_code == 0, result.stderr
    assert fake.ephemeral_runs == ["vfx-ingest-run", "stopped"]
    manifest = ShotFolder(shot).load_manifest()
    assert manifest is not None
    modal = manifest.stages["ingest"].stats["modal"]
    run_id = modal["run"]
    assert (
        modal["billing"]["tag"] == f"vfx-ingest-run={run_id}"
        and modal["billing"]["cost_usd"] is None
    )
    start = datetime.fromisoformat(modal["billing"]["from"])
    assert start.minute == 0 and datetime.fromisoformat(
        modal["billing"]["to"]
    ) - start >= timedelta(hours=1)

    # Later, Modal's report covers the window: the run's rows (and only those) are its cost.
    fake.billing_rows = [
        {"interval_start": start, "cost": "0.0421", "tags": {"vfx-ingest-run": run_id}},
        {"interval_start": start, "cost": "9.99", "tags": {"vfx-ingest-run": "another-run"}},
    ]
    assert billing.settle(fake, manifest, now=datetime.now(UTC) + timedelta(hours=2))
    assert manifest.stages["ingest"].cost_usd == pytest.approx(0.0421)
    assert fake.billing_queries[-1][2] == ["vfx-ingest-run"]
    assert not billing.settle(fake, manifest, now=datetime.now(UTC) + timedelta(hours=2))


def test_stage_events_wait_for_the_download(deployed, cli, clips, tmp_path):
    """The done event comes once the outputs are in the shot, so a script reacting to it
    finds the files."""
    shot = tmp_path / "shot"
    seen: list[tuple[str, int]] = []

    def on_event(event) -> None:
        if isinstance(event, StageEvent) and event.status == "done":
            seen.append((event.status, len(list((shot / "plate").iterdir()))))

    request = pipeline.RunRequest(clip=clips(frames=6), shot=shot)
    result = pipeline.run(request, load_settings(backend="modal"), on_event)
    assert result.status == "ok" and seen == [("done", 6)]


def test_the_cost_meter_gets_the_worker_rate_and_stops_the_call_at_the_limit(
    deployed, tint, cli, clips, tmp_path
):
    from vfx_ingest.backends.modal.backend import ModalBackend
    from vfx_ingest.cost.meter import CostMeter

    clip, shot = ready_for_tint(cli, clips(frames=24), tmp_path / "shot")
    settings = load_settings(backend="modal")
    request = pipeline.RunRequest(
        clip=clip, shot=shot, stages=["tint"], params={"tint": {"pause": 0.2}}
    )
    job = pipeline.plan(request, settings)
    cancel = threading.Event()
    meter = CostMeter(limit_usd=0.0002, cancel=cancel)  # about a second of an L4 worker
    with pytest.raises(Cancelled):
        ModalBackend(settings).run(job, lambda event: None, cancel, meter=meter)
    assert meter.exceeded and meter.price_id == "modal/gpu/L4"
    # The L4's price plus the worker's CPU and memory (catalog: $0.000222/s for the GPU).
    assert 0.000222 < meter.usd_per_second < 0.0003
    assert 0.5 < meter.billed_s < 10
    (call,) = deployed.calls
    assert call.cancelled and call.process.poll() is not None

    # A GPU the catalog has no price for cannot be held to a limit: refused before any call.
    h200 = load_settings(backend="modal", modal={"gpu": "H200"})
    with pytest.raises(BadInput, match="no price for Modal's H200"):
        ModalBackend(h200).run(
            job, lambda event: None, threading.Event(), meter=CostMeter(1.0, threading.Event())
        )
    assert len(deployed.calls) == 1


def test_a_chunkable_stage_fans_out_over_calls_and_is_stitched_here(
    deployed, cli, clips, tmp_path, monkeypatch
):
    from remote_stages import FRAMES

    monkeypatch.setitem(REGISTRY, "frames", FRAMES)
    monkeypatch.setenv("VFX_TEST_STAGES", "1")
    clip, shot = clips(frames=12), tmp_path / "shot"
    assert cli("run", clip, "--shot", shot).exit_code == 0
    assert cli("deploy", "modal").exit_code == 0
    args = ("--stages", "frames", "--backend", "modal", "--max-workers", "3", "--json")
    result = cli("run", clip, "--shot", shot, *args)
    assert result.exit_code == 0, result.stderr

    ranges = sorted(tuple(s.job["stages"][0]["frames"]) for s in deployed.spawned)
    assert ranges == [(1001, 1004), (1003, 1008), (1007, 1012)]  # 3 chunks, overlap 2
    assert all(s.cls == "Cpu" for s in deployed.spawned)
    marks = {p.name: p.read_text() for p in (shot / "marks").iterdir()}
    assert len(marks) == 12
    assert marks["marks.1002.txt"] == "1001-1004" and marks["marks.1005.txt"] == "1003-1008"
    assert marks["marks.1012.txt"] == "1007-1012"
    record = cli.json_lines(result.stdout)[-1]["records"][-1]
    assert record["stage"] == "frames" and len(record["stats"]["chunks"]) == 3
    chunk_seconds = sum(c["stats"]["modal"]["seconds"] for c in record["stats"]["chunks"])
    assert record["wall_s"] == pytest.approx(chunk_seconds, abs=1e-3)
    assert len(record["stats"]["modal"]["function_call"]) == 3
    # The calls' own times too, which split an ephemeral run's bill between its stages.
    call_s = sum(c["stats"]["modal"]["call_s"] for c in record["stats"]["chunks"])
    assert call_s > 0
    assert record["stats"]["modal"]["call_s"] == pytest.approx(call_s, abs=1e-3)
