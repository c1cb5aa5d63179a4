"""docs/reference/ is generated from the code (scripts/gen_reference.py) and kept current."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys

from conftest import REPO, child_env


def generator():
    spec = importlib.util.spec_from_file_location(
        "gen_reference", REPO / "scripts" / "gen_reference.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_generated_reference_is_up_to_date():
    gen = generator()
    stale = [
        name
        for name, text in gen.render().items()
        if not (path := REPO / "docs" / "reference" / name).is_file() or path.read_text() != text
    ]
    assert not stale, f"docs/reference/{', '.join(stale)} out of date: run `{gen.COMMAND}`"


def test_the_reference_covers_every_command_stage_and_setting():
    from vfx_ingest.cli import COMMANDS
    from vfx_ingest.cli.run_cmd import option_flag
    from vfx_ingest.config import Settings
    from vfx_ingest.stages import REGISTRY

    pages = generator().render()
    for name in COMMANDS:
        assert f"## `vfx-ingest {name}`" in pages["commands.md"]
    for spec in REGISTRY.values():
        assert f"## `{spec.name}`" in pages["stages.md"]
        for field in spec.params.model_fields:
            assert f"| `{field}` | `{option_flag(spec, field)}` |" in pages["stages.md"]
    for section in ("s3", "cost", "runpod", "modal"):
        assert section in Settings.model_fields
    assert (
        "| `runpod.api_key` | `VFX_INGEST_RUNPOD__API_KEY` (or `RUNPOD_API_KEY`) |"
        in (pages["settings.md"])
    )
    assert "| `s3.bucket` | `VFX_INGEST_S3__BUCKET` |" in pages["settings.md"]


def test_the_output_does_not_depend_on_the_machine(tmp_path):
    """Another home, terminal width and working folder give the same bytes."""
    env = child_env(HOME=str(tmp_path), COLUMNS="40", XDG_CACHE_HOME=str(tmp_path / "c"))
    env.pop("VFX_INGEST_CONFIG", None)
    code = (
        "import sys, json; sys.path.insert(0, sys.argv[1]); import gen_reference as g;"
        "print(json.dumps(g.render()))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(REPO / "scripts")],
        cwd=tmp_path, env=env, capture_output=True, text=True, check=True, timeout=120,
    )  # fmt: skip
    import json

    pages = json.loads(out.stdout)
    assert pages == generator().render()
    for text in pages.values():
        assert str(tmp_path) not in text and os.sep + "home" + os.sep not in text


def test_check_names_the_command_to_run(tmp_path, monkeypatch, capsys):
    gen = generator()
    out = tmp_path / "reference"
    monkeypatch.setattr(gen, "OUT", out)
    monkeypatch.setattr(sys, "argv", ["gen_reference.py", "--check"])
    assert gen.main() == 1
    assert "run `python scripts/gen_reference.py`" in capsys.readouterr().err
    assert not out.exists()
    monkeypatch.setattr(sys, "argv", ["gen_reference.py"])
    assert gen.main() == 0
    assert sorted(p.name for p in out.iterdir()) == sorted(gen.PAGES)
    monkeypatch.setattr(sys, "argv", ["gen_reference.py", "--check"])
    assert gen.main() == 0
