"""The price catalog and the throughput seeds: complete, dated, sourced, consistent."""

from __future__ import annotations

import json
from datetime import date

import pytest

from vfx_ingest.cost.catalog import LivePrices, Price, bundled_catalog, load_catalog, overlay
from vfx_ingest.cost.throughput import load_throughput, work_megapixels

TODAY = date(2026, 11, 21)


def test_every_catalog_entry_is_dated_and_sourced():
    catalog = bundled_catalog()
    entries = catalog.entries()
    assert len(entries) > 40
    for entry in entries:
        assert entry.as_of <= TODAY, entry
        assert entry.source.startswith("https://"), entry
        assert entry.origin == "bundled"


def test_every_throughput_seed_is_dated_and_sourced_and_names_a_timed_gpu():
    catalog = bundled_catalog()
    seeds = load_throughput()
    for entry in [*seeds.stages, *seeds.cold_starts]:
        assert entry.as_of <= TODAY and entry.source, entry
    for seed in seeds.stages:
        assert seed.s_per_mp > 0 or seed.s_per_frame > 0
        if seed.device == "gpu":
            assert catalog.gpu(seed.reference_gpu).fp16_tflops is not None


def test_catalog_covers_what_the_issue_asks_for():
    catalog = bundled_catalog()
    offers = {(p.backend, p.offer) for p in catalog.gpu_offers()}
    assert {
        ("runpod-serverless", "flex"),
        ("runpod-serverless", "active"),
        ("runpod-pod", "secure"),
        ("runpod-pod", "community"),
        ("modal", "standard"),
    } <= offers
    resources = {(p.backend, p.resource) for p in catalog.prices}
    assert {
        ("modal", "cpu"),
        ("modal", "memory"),
        ("runpod-pod", "storage"),
        ("r2", "storage"),
        ("r2", "egress"),
        ("s3", "storage"),
        ("s3", "egress"),
    } <= resources
    assert {m.id for m in catalog.multipliers} >= {"modal/region/broad", "modal/nonpreemptible"}
    # Every backend that sells GPU time says how it bills.
    assert {p.backend for p in catalog.gpu_offers()} <= {b.name for b in catalog.backends}


def test_prices_convert_to_per_second_by_unit():
    catalog = bundled_catalog()
    pod = catalog.price("runpod-pod/secure/H100-SXM")
    assert pod.usd_per_second == pytest.approx(pod.usd / 3600)
    flex = catalog.price("runpod-serverless/flex/AMPERE_80")
    assert flex.usd_per_second == flex.usd
    with pytest.raises(ValueError, match="not priced by time"):
        _ = catalog.price("s3/egress").usd_per_second


def test_device_names_map_to_gpu_classes():
    catalog = bundled_catalog()
    assert catalog.find_gpu("NVIDIA A100-SXM4-80GB").id == "A100-80GB"
    assert catalog.find_gpu("NVIDIA H100 80GB HBM3").id == "H100-SXM"
    assert catalog.find_gpu("Tesla T4").id == "T4"
    assert catalog.find_gpu("NVIDIA GeForce RTX 4090").id == "RTX-4090"
    assert catalog.find_gpu("Voodoo 2") is None


def test_inconsistent_catalog_data_is_refused():
    data = bundled_catalog().model_dump(by_alias=True)
    data["price"][0]["gpus"] = ["NO-SUCH-GPU"]
    with pytest.raises(ValueError, match="unknown GPUs"):
        type(bundled_catalog()).model_validate(data)


def test_live_prices_replace_bundled_gpu_prices_of_their_backends_only():
    catalog = bundled_catalog()
    live = LivePrices(
        provider="runpod",
        fetched_at="2026-11-21T10:00:00Z",
        source="https://api.runpod.io/v2/catalog/gpus",
        backends=("runpod-pod", "runpod-serverless"),
        prices=[
            Price(
                id="runpod-pod/secure/x",
                backend="runpod-pod",
                resource="gpu",
                offer="secure",
                gpus=("A40",),
                usd=0.5,
                unit="hour",
                as_of=TODAY,
                source="https://api.runpod.io/v2/catalog/gpus",
                origin="live:runpod",
            )
        ],
    )
    merged = overlay(catalog, live)
    pods = merged.gpu_offers("runpod-pod")
    assert [p.id for p in pods] == ["runpod-pod/secure/x"]
    assert all(p.offer == "active" for p in merged.gpu_offers("runpod-serverless"))
    assert merged.gpu_offers("modal") == catalog.gpu_offers("modal")
    assert merged.refreshed[0].provider == "runpod"


def test_a_corrupt_price_cache_is_one_clear_error(isolated_config, tmp_path):
    from vfx_ingest.cost.catalog import cache_dir
    from vfx_ingest.errors import BadInput

    cache_dir().mkdir(parents=True)
    (cache_dir() / "runpod.json").write_text(json.dumps({"provider": "runpod"}))
    with pytest.raises(BadInput, match="cannot read cached live prices"):
        load_catalog()


@pytest.mark.parametrize(
    ("work", "px", "size", "expected"),
    [
        ("plate", None, (1920, 1080), 1920 * 1080 / 1e6),
        ("square", 1024, (1920, 1080), 1024 * 1024 / 1e6),
        ("short-side", 518, (1036, 518), 1036 * 518 / 1e6),
        ("short-side", 518, (518, 2072), 518 * 2072 / 1e6),
    ],
)
def test_work_megapixels(work, px, size, expected):
    assert work_megapixels(work, px, *size) == pytest.approx(expected)
