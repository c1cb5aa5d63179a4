"""`vfx-ingest cost`, `run --max-cost`, recorded actuals, and `cost --refresh`."""

from __future__ import annotations

import threading

import pytest

from vfx_ingest.backends import BACKENDS
from vfx_ingest.backends.local import LocalBackend
from vfx_ingest.cost.catalog import bundled_catalog
from vfx_ingest.cost.history import History
from vfx_ingest.shot import ShotFolder

from runpod_v2_double import RunpodV2Double


def history(tmp_home) -> History:
    from vfx_ingest.config import load_settings

    return History(load_settings().cost.history_db)


def test_cost_json_ranks_backends_for_the_run_that_was_asked_for(cli, clips):
    clip = clips(frames=12, width=64, height=48)
    result = cli("cost", clip, "--every", "2", "--backend", "local,modal", "--json")
    assert result.exit_code == 0, result.stderr
    lines = cli.json_lines(result.stdout)
    estimates = [line for line in lines if line["type"] == "estimate"]
    (summary,) = [line for line in lines if line["type"] == "summary"]
    assert summary["plan"]["frames"] == 6 and summary["plan"]["width"] == 64
    # Ingest needs no GPU: only CPU offers are priced for it, the GPU ones are skipped.
    (local,) = estimates
    assert local["backend"] == "local" and local["usd"] == 0 and local["installed"] is True
    assert local["cheapest"] and local["fastest"]
    skipped = [line for line in lines if line["type"] == "skipped"]
    assert skipped and {s["backend"] for s in skipped} == {"modal"}

    gpu = cli("cost", clip, "--stages", "depth", "--backend", "local,modal", "--json")
    lines = cli.json_lines(gpu.stdout)
    estimates = [line for line in lines if line["type"] == "estimate"]
    (summary,) = [line for line in lines if line["type"] == "summary"]
    assert estimates and {e["backend"] for e in estimates} == {"modal"}
    assert sum(e["cheapest"] for e in estimates) == sum(e["fastest"] for e in estimates) == 1
    assert all(e["installed"] is True and e["usd"] > 0 for e in estimates)  # it runs (#7)
    assert [p["backend"] for p in summary["prices"]] == ["modal"]


def test_cost_table_marks_estimate_only_backends_and_dates_the_prices(cli, clips):
    result = cli(
        "cost", clips(frames=6), "--stages", "depth", "--backend",
        "local,runpod-serverless,runpod-pod", "--gpu", "cpu,A100",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert "cheapest" in result.stdout and "fastest" in result.stdout
    assert "runpod-pod *" in result.stdout and "estimate only" in result.stdout
    assert "runpod-serverless *" not in result.stdout  # it runs jobs (#6)
    assert "prices runpod-serverless: bundled, as of 2026-06-08" in result.stdout


def test_offers_without_a_time_figure_are_named_once_per_stage(cli, clips):
    """Depth has no seeded figure for some GPUs or the CPU: the table says which, in one
    line, and `--json` gives each skipped offer with its stage."""
    clip = clips(frames=6)
    args = ("cost", clip, "--stages", "ingest,depth", "--backend", "local,runpod-pod")
    result = cli(*args)
    assert result.exit_code == 0, result.stderr
    text = " ".join(result.stdout.split())
    assert text.count("no time figure for depth on") == 1, text

    skipped = [
        line for line in cli.json_lines(cli(*args, "--json").stdout) if line["type"] == "skipped"
    ]
    assert all(s["untimed"] == "depth" for s in skipped)
    places = {s["where"] for s in skipped}
    assert "the CPU" in places and len(places) > 1  # the CPU and some pod GPUs
    named = text.split("no time figure for depth on", 1)[1].split(":", 1)[0]
    assert {p.strip() for p in named.split(", ")} == places
    shown = text.split("offers not shown", 1)[0].split()[-1]
    assert int(shown) == len(skipped)


def test_cost_lists_the_catalog_with_dates_and_sources(cli):
    table = cli("cost")
    assert table.exit_code == 0 and "runpod-serverless/flex/AMPERE_80" in table.stdout
    prices = cli.json_lines(cli("cost", "--json").stdout)
    assert len(prices) == len(bundled_catalog().prices)
    assert all(p["as_of"] and p["source"].startswith("https://") for p in prices)


def test_cost_bad_input_is_one_line_and_exit_2(cli, clips, tmp_path):
    assert cli("cost", tmp_path / "missing.mp4").exit_code == 2
    unknown = cli("cost", clips(frames=6), "--backend", "nope")
    assert unknown.exit_code == 2 and "no prices for backend nope" in unknown.stderr
    assert len(unknown.stderr.strip().splitlines()) == 1
    usage = cli("cost", "--usage", "lots")
    assert usage.exit_code == 2 and "--usage" in usage.stderr


def test_breakeven_is_computed_from_the_catalog(cli):
    result = cli("cost", "--usage", "10h/week", "--json")
    assert result.exit_code == 0, result.stderr
    rows = {row["gpu"]: row for row in cli.json_lines(result.stdout)}
    a100 = rows["A100-80GB"]
    catalog = bundled_catalog()
    flex = catalog.price("runpod-serverless/flex/AMPERE_80")
    hours = 10 * 365.25 / 12 / 7
    by_name = {o["name"]: o for o in a100["options"]}
    assert by_name["RunPod serverless, flex"]["usd_per_month"] == pytest.approx(
        hours * 3600 * flex.usd
    )
    cheapest_pod = min(
        (p for p in catalog.gpu_offers("runpod-pod") if "A100-80GB" in p.gpus),
        key=lambda p: p.usd,
    )
    # The break-even is against the cheapest serverless option, whichever backend has it.
    per_use = [o for name, o in by_name.items() if "pod" not in name and "always" not in name]
    assert {"RunPod serverless, flex", "Modal, standard"} <= {o["name"] for o in per_use}
    cheapest_per_use = min(o["usd_per_hour"] for o in per_use)
    assert a100["always_on_break_even_h"] == pytest.approx(
        730 * cheapest_pod.usd / cheapest_per_use
    )
    # At that volume an on-demand community pod undercuts flex workers; at 700 h/month an
    # always-on pod does.
    assert next(o for o in a100["options"] if o["cheapest"])["name"].endswith("on demand")
    heavy = {r["gpu"]: r for r in cli.json_lines(cli("cost", "--usage", "700h", "--json").stdout)}
    best = next(o for o in heavy["A100-80GB"]["options"] if o["cheapest"])
    assert "pod" in best["name"]


@pytest.fixture
def priced_backend(monkeypatch):
    """Register the local backend under a priced remote name: the pipeline's budget check
    then prices the run as that backend would (what runs is still the real local worker)."""

    def register(name: str, cls: str = "LocalBackend", module: str = "vfx_ingest.backends.local"):
        spec = BACKENDS["local"].model_copy(update={"name": name, "runner": f"{module}:{cls}"})
        monkeypatch.setitem(BACKENDS, name, spec)

    return register


def test_max_cost_refuses_before_anything_is_written(cli, clips, tmp_path, priced_backend):
    priced_backend("runpod-serverless")
    shot = tmp_path / "shot"
    result = cli(
        "run", clips(frames=6), "--shot", shot, "-b", "runpod-serverless", "--max-cost", "0.001"
    )
    assert result.exit_code == 2
    assert "over --max-cost $0.00" in result.stderr and "vfx-ingest cost" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not shot.exists()


def test_max_cost_lets_an_affordable_run_through_and_local_always(
    cli, clips, tmp_path, priced_backend
):
    priced_backend("runpod-serverless")
    ok = cli(
        "run",
        clips(frames=6),
        "--shot",
        tmp_path / "a",
        "-b",
        "runpod-serverless",
        "--max-cost",
        "5",
    )
    assert ok.exit_code == 0, ok.stderr
    free = cli("run", clips(frames=6), "--shot", tmp_path / "b", "--max-cost", "0")
    assert free.exit_code == 0, free.stderr


class MeteredLocal(LocalBackend):
    """Stands in for a remote backend's billing, whose control plane cannot be reached: it
    rates the (real, local) work at $1/s and ticks the meter on every progress event, as a
    remote backend's poll loop would."""

    def run(self, job, on_event, cancel, meter=None):
        assert meter is not None
        meter.set_rate(1.0, "test/1-usd-per-second")

        def tick(event):
            if event.type == "progress":
                meter.tick(0.01)
            on_event(event)

        return LocalBackend.run(self, job, tick, cancel)


def test_the_running_cost_stops_remote_work_at_the_limit(cli, clips, tmp_path, priced_backend):
    priced_backend("modal", cls="MeteredLocal", module=__name__)
    shot = tmp_path / "shot"
    result = cli(
        "run",
        clips(frames=24),
        "--shot",
        shot,
        "-b",
        "modal",
        "--max-cost",
        "0.05",
        "--workers",
        "1",
    )
    assert result.exit_code == 1, result.stderr
    assert "passed --max-cost $0.05" in result.stderr
    record = ShotFolder(shot).load_manifest().stages["ingest"]
    assert record.status == "failed" and "interrupted" in record.error
    assert not (shot / "plate").exists()  # nothing half-written in place


def test_meter_cancels_once_the_spend_passes_the_limit():
    from vfx_ingest.cost.meter import CostMeter

    cancel = threading.Event()
    meter = CostMeter(1.0, cancel)
    meter.set_rate(0.1)
    meter.tick(5)
    meter.charge(0.5, "transfer")
    assert not cancel.is_set() and meter.spent_usd == pytest.approx(1.0)
    meter.tick(0.1)
    assert cancel.is_set() and meter.exceeded and meter.billed_s == pytest.approx(5.1)
    unlimited = CostMeter(None, threading.Event())
    unlimited.set_rate(100.0)
    unlimited.tick(1e6)
    assert not unlimited.cancel.is_set()
    with pytest.raises(ValueError):
        meter.tick(-1)


def test_every_run_records_its_cost_and_feeds_the_history(cli, clips, tmp_path, isolated_config):
    shot = tmp_path / "shot"
    assert cli("run", clips(frames=8), "--shot", shot).exit_code == 0
    record = ShotFolder(shot).load_manifest().stages["ingest"]
    assert record.cost_usd == 0.0 and record.price.id == "local"
    assert record.price.billed_s == record.wall_s
    (row,) = history(isolated_config).runs()
    assert (row.stage, row.backend, row.device_key, row.frames) == (
        "ingest",
        "local",
        "cpu@local",
        8,
    )
    assert (row.width, row.height, row.wall_s) == (64, 48, record.wall_s)
    # A cached rerun costs nothing new and teaches nothing new.
    assert cli("run", clips(frames=8), "--shot", shot).exit_code == 0
    assert len(history(isolated_config).runs()) == 1
    status = cli("status", shot)
    assert "local" in status.stdout and "0.0000" in status.stdout


def test_remote_records_are_priced_from_the_catalog():
    from vfx_ingest.config import load_settings
    from vfx_ingest.cost.actuals import price_records
    from vfx_ingest.manifest import StageRecord

    def record(stage, wall, **stats):
        return StageRecord(
            stage=stage,
            version="1",
            status="done",
            params={},
            cache_key="k",
            inputs={},
            backend="runpod-serverless",
            device="NVIDIA A100-SXM4-80GB",
            wall_s=wall,
            stats=stats,
        )

    catalog = bundled_catalog()
    first, last = record("ingest", 10.2, cold_start_s=20.0), record("depth", 100.4)
    price_records([first, last], catalog, load_settings())
    rate = catalog.price("runpod-serverless/flex/AMPERE_80").usd
    assert first.price.id == "runpod-serverless/flex/AMPERE_80"
    assert first.price.billed_s == 31 and first.cost_usd == pytest.approx(31 * rate)
    assert last.price.billed_s == 106  # + RunPod's 5 s idle timeout after the last stage
    assert last.price.as_of == catalog.price(first.price.id).as_of
    unknown = record("ingest", 5.0)
    unknown.device = "Voodoo 2"
    price_records([unknown], catalog, load_settings())
    assert unknown.cost_usd is None and unknown.price is None


# --- live prices -------------------------------------------------------------------------

KEY = "rp_test_key_do_not_print_0123456789"

# What RunPod API v2 `GET /v2/catalog/gpus` answers here (the double checks it against the
# published ListGpuTypesResponse schema).
CATALOG = {
    "gpus": [
        {
            "id": "NVIDIA A100-SXM4-80GB",
            "name": "A100 SXM",
            "pool": "AMPERE_80",
            "manufacturer": "NVIDIA",
            "memory": 80,
            "secure": True,
            "community": True,
            "price": {"secure": 1.49, "community": 1.09, "serverless": 2.17},
            "maxCount": {"secure": 8, "community": 8},
        },
        {
            "id": "NVIDIA GeForce RTX 5090",
            "name": "RTX 5090",
            "pool": "ADA_32_PRO",
            "manufacturer": "NVIDIA",
            "memory": 32,
            "secure": True,
            "community": False,
            "price": {"secure": 0.89, "community": 0.0, "serverless": 1.58},
            "maxCount": {"secure": 2, "community": 0},
        },
    ]
}


def test_refresh_without_credentials_keeps_the_bundled_prices(cli):
    result = cli("cost", "--refresh", "--json")
    assert result.exit_code == 0
    lines = {line["provider"]: line for line in cli.json_lines(result.stdout)}
    assert lines["runpod"]["status"] == "skipped" and "RUNPOD_API_KEY" in lines["runpod"]["detail"]
    assert lines["modal"]["status"] == "skipped" and "no price list" in lines["modal"]["detail"]


def test_refresh_pulls_runpod_prices_into_the_user_cache(cli, clips, monkeypatch):
    with RunpodV2Double(KEY, gpus=CATALOG["gpus"]) as double:
        monkeypatch.setenv("RUNPOD_API_KEY", KEY)
        monkeypatch.setenv("VFX_INGEST_RUNPOD__REST_URL", double.url)
        result = cli("cost", "--refresh")
    assert result.exit_code == 0, result.stderr
    assert double.requests == [("GET", "/v2/catalog/gpus", None)]
    assert KEY not in result.stdout + result.stderr
    assert "runpod: refreshed" in result.stderr
    assert "live:runpod" in result.stdout  # the price table says where each price came from
    from vfx_ingest.cost.catalog import load_catalog

    catalog = load_catalog()
    pods = {p.id: p for p in catalog.gpu_offers("runpod-pod")}
    assert pods["runpod-pod/community/A100-SXM4-80GB"].usd == 1.09
    assert all(p.origin == "live:runpod" for p in pods.values())
    flex = catalog.price("runpod-serverless/flex/AMPERE_80")
    assert flex.usd_per_second == pytest.approx(2.17 / 3600) and flex.gpus == ("A100-80GB",)
    new = catalog.find_gpu("NVIDIA GeForce RTX 5090")
    assert new is not None and new.fp16_tflops is None and new.origin == "live:runpod"
    # Estimates now use and name the live prices; the RTX 5090 is priced but cannot be timed.
    estimate = cli(
        "cost", clips(frames=6), "--stages", "depth", "--backend", "runpod-serverless", "--json"
    )
    summary = cli.json_lines(estimate.stdout)[-1]
    assert summary["prices"][0]["origin"] == "live:runpod"


def test_refresh_with_a_rejected_key_is_bad_input(cli, monkeypatch):
    with RunpodV2Double(KEY) as double:
        monkeypatch.setenv("RUNPOD_API_KEY", "wrong-key-also-secret")
        monkeypatch.setenv("VFX_INGEST_RUNPOD__REST_URL", double.url)
        result = cli("cost", "--refresh")
    assert result.exit_code == 2 and "refused the API key" in result.stderr
    assert "wrong-key-also-secret" not in result.stderr + result.stdout


def test_max_cost_counts_only_the_stages_that_will_run(cli, clips, tmp_path, priced_backend):
    priced_backend("runpod-serverless")
    shot = tmp_path / "shot"
    assert cli("run", clips(frames=6), "--shot", shot).exit_code == 0
    # Cached everywhere: nothing will run, so nothing is billed, whatever the backend.
    cached = cli(
        "run", clips(frames=6), "--shot", shot, "-b", "runpod-serverless", "--max-cost", "0"
    )
    assert cached.exit_code == 0, cached.stderr
    forced = cli(
        "run",
        clips(frames=6),
        "--shot",
        shot,
        "-b",
        "runpod-serverless",
        "--max-cost",
        "0",
        "--force",
    )
    assert forced.exit_code == 2 and "over --max-cost" in forced.stderr


def test_a_cpu_stage_is_priced_on_cpu_offers_and_hidden_offers_are_counted_once(cli, clips):
    """Issue 17 item 13: ingest needs no GPU, so GPU offers are not priced for it, and the
    table says how many offers it leaves out, in one line, with the same count as --json."""
    clip = clips(frames=6)
    table = cli("cost", clip, "--stages", "ingest")
    assert table.exit_code == 0, table.stderr
    lines = [line for line in table.stdout.splitlines() if " not shown: " in line]
    assert len(lines) == 1, table.stdout
    shown = int(lines[0].split()[0])
    assert "run on a CPU only" in lines[0]

    data = cli.json_lines(cli("cost", clip, "--stages", "ingest", "--json").stdout)
    estimates = [d for d in data if d["type"] == "estimate"]
    skipped = [d for d in data if d["type"] == "skipped"]
    assert [e["backend"] for e in estimates] == ["local"]
    assert len(skipped) == shown > 0
    priced = {p.backend for p in bundled_catalog().gpu_offers()}
    assert {s["backend"] for s in skipped} == priced  # every GPU backend, none priced
