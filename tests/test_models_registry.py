"""The registry data and its loader: what stages and users rely on, and bad files refused."""

from __future__ import annotations

import pytest

from vfx_ingest.errors import BadInput
from vfx_ingest.models.registry import load_registry
from vfx_ingest.models.sources import GdriveSource, HfSource, UrlSource, parse_source, redact

from model_servers import registry_toml


def test_the_builtin_registry_loads_with_one_default_per_stage():
    registry = load_registry()
    for stage in registry.stages():
        defaults = [m.id for m in registry.models.values() if m.stage == stage and m.default]
        assert len(defaults) <= 1, (stage, defaults)
    assert registry.default_for("depth").id == "vda-small"
    assert registry.default_for("roto").id == "sam2.1-hiera-base-plus"
    assert registry.default_for("matte").id == "vitmatte-small"


def test_the_depth_default_is_what_the_depth_stage_loads():
    vda = load_registry().get("vda-small")
    assert [f.path for f in vda.files] == ["video_depth_anything_vits.pth"]
    (source,) = vda.parsed_sources
    assert (
        isinstance(source, HfSource) and source.repo == "depth-anything/Video-Depth-Anything-Small"
    )
    assert source.pinned and vda.commercial and vda.license == "Apache-2.0"


def test_licenses_gating_and_manual_entries_are_marked():
    registry = load_registry()
    assert registry.get("sam3").gated and registry.get("sam3").homepage
    for model_id in ("vda-base", "vda-large", "depth-anything-v2-large", "matanyone"):
        assert not registry.get(model_id).commercial, model_id
    for model_id in ("wham", "smplx"):
        entry = registry.get(model_id)
        assert entry.manual and not entry.sources and "Register at" in entry.instructions
    ids = set(registry.models)
    for variant in ("tiny", "small", "base-plus", "large"):
        assert f"sam2.1-hiera-{variant}" in ids
    for size in ("small", "base", "large"):
        assert {f"vda-{size}", f"vda-metric-{size}", f"depth-anything-v2-{size}"} <= ids


def test_sources_parse():
    assert parse_source("hf://org/repo") == HfSource("org/repo", "main")
    assert parse_source("hf://org/repo/sub/dir@v1.0") == HfSource("org/repo", "v1.0", "sub/dir")
    assert parse_source("gdrive://1i7kt9RlCCCNEW2aYaDWVr") == GdriveSource("1i7kt9RlCCCNEW2aYaDWVr")
    folder = parse_source("https://host/dir/")
    assert isinstance(folder, UrlSource) and folder.file_url("a/b.pt") == "https://host/dir/a/b.pt"
    for bad in ("hf://justone", "ftp://host/x", "gdrive://x", "https:///nohost"):
        with pytest.raises(ValueError):
            parse_source(bad)
    assert redact("https://user:pw@host:8443/x.pt?X-Amz-Signature=abc") == "https://host:8443/x.pt"


def test_a_studio_registry_adds_models_and_replaces_a_default(tmp_path):
    extra = tmp_path / "studio.toml"
    extra.write_text(
        registry_toml(
            [
                {
                    "id": "studio-depth",
                    "stage": "depth",
                    "default": True,
                    "sources": ["https://models.studio.lan/depth/"],
                    "files": [{"path": "d.pth"}],
                }
            ]
        )
    )
    registry = load_registry(extra)
    assert registry.default_for("depth").id == "studio-depth"
    assert not registry.get("vda-small").default
    assert "sam3" in registry.models


@pytest.mark.parametrize(
    ("model", "message"),
    [
        (
            {
                "id": "x",
                "sources": ["gdrive://1i7kt9RlCCCNEW2a"],
                "files": [{"path": "a"}, {"path": "b"}],
            },
            "names one file",
        ),
        ({"id": "x", "files": [{"path": "a"}]}, "at least one source"),
        ({"id": "x", "sources": ["https://h/"], "files": [{"path": "../a"}]}, "relative path"),
        (
            {"id": "x", "sources": ["https://h/"], "files": [{"path": "a", "sha256": "abc"}]},
            "64 lowercase hex",
        ),
        ({"id": "x", "manual": True, "files": [{"path": "a"}]}, "needs instructions"),
    ],
)
def test_bad_registry_entries_are_refused_with_the_file_named(tmp_path, model, message):
    extra = tmp_path / "bad.toml"
    extra.write_text(registry_toml([model]))
    with pytest.raises(BadInput) as error:
        load_registry(extra)
    assert message in error.value.line() and str(extra) in error.value.line()


def test_manual_model_sync_explains_and_path_gives_the_folder(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("VFX_INGEST_MODELS_DIR", str(tmp_path / "models"))
    result = cli("models", "sync", "smplx")
    assert result.exit_code == 2
    assert "needs a registration" in result.stderr and "smpl-x.is.tue.mpg.de" in result.stderr
    folder = cli("models", "path", "smplx").stdout.strip()
    assert folder == str(tmp_path / "models" / "smplx")
    for name in ("SMPLX_NEUTRAL.npz", "SMPLX_MALE.npz", "SMPLX_FEMALE.npz"):
        (tmp_path / "models" / "smplx" / name).write_bytes(name.encode())
    assert cli("models", "sync", "smplx").exit_code == 0
    assert cli("models", "verify", "smplx").exit_code == 0


def test_every_models_subcommand_has_examples(cli):
    for sub in ("list", "sync", "verify", "lock", "path"):
        assert "Examples" in cli("models", sub, "--help").stdout, sub


def test_list_table_marks_defaults_and_licenses(cli):
    result = cli("models", "list", "--stage", "roto")
    assert result.exit_code == 0
    assert "sam2.1-hiera-base-plus *" in result.stdout and "SAM License" in result.stdout
    assert "vda-small" not in result.stdout


def test_sync_without_arguments_fetches_only_the_stages_this_build_has(cli, tmp_path, monkeypatch):
    """The registry also lists models of stages still to come (body): a plain sync must
    not try to fetch them (the Hub is offline here, so trying would fail)."""
    from vfx_ingest.stages import REGISTRY

    extra = tmp_path / "studio.toml"
    ours = [name for name in REGISTRY if REGISTRY[name].models]
    entries = [
        {"id": f"studio-{name}", "stage": name, "default": True, "manual": True}
        | {"instructions": "Copy it in", "files": [{"path": "w.pth"}]}
        for name in ours
    ]
    extra.write_text(registry_toml(entries))
    monkeypatch.setenv("VFX_INGEST_MODELS_REGISTRY", str(extra))
    monkeypatch.setenv("VFX_INGEST_MODELS_DIR", str(tmp_path / "models"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    for name in ours:
        (tmp_path / "models" / f"studio-{name}").mkdir(parents=True)
        (tmp_path / "models" / f"studio-{name}" / "w.pth").write_bytes(b"weights")
    assert "body" in load_registry(extra).stages() and "body" not in REGISTRY

    result = cli("models", "sync", "--json")
    assert result.exit_code == 0, result.stderr
    synced = {line["id"] for line in cli.json_lines(result.stdout)}
    assert synced == {f"studio-{name}" for name in ours}


@pytest.mark.parametrize("stages", ["body", "depth,dpeth"])
def test_sync_refuses_stages_this_build_does_not_have(cli, stages):
    result = cli("models", "sync", "--stages", stages)
    assert result.exit_code == 2
    (line,) = result.stderr.strip().splitlines()
    assert "unknown stage" in line and "depth" in line
