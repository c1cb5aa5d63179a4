"""The command line's contract: help everywhere, JSON-only stdout, light start-up."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from vfx_ingest import __version__
from vfx_ingest.cli import COMMANDS, load_command

HEAVY = ("torch", "pycolmap", "boto3", "runpod", "modal")


def test_importing_the_cli_loads_no_heavy_module():
    code = (
        "import sys, vfx_ingest.cli\n"
        f"print([m for m in {(*HEAVY, 'av', 'numpy', 'pydantic_settings')!r} if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_top_level_help_imports_no_command_module():
    code = (
        "import sys\nfrom vfx_ingest.cli import app\n"
        "try:\n    app(['--help'])\nexcept SystemExit:\n    pass\n"
        "print('LOADED', sorted(m for m in sys.modules if m.startswith(('vfx_ingest.', 'typer.'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = out.stdout.split("LOADED", 1)[1]
    assert "vfx_ingest.pipeline" not in loaded and "vfx_ingest.stages" not in loaded
    # typer's rich help pulls in a Markdown parser; the root help is drawn without it.
    assert "typer.rich_utils" not in out.stdout.split("LOADED", 1)[1]
    for name in COMMANDS:
        assert name in out.stdout


@pytest.mark.parametrize("name", list(COMMANDS))
def test_every_command_has_help_with_examples_matching_the_index(cli, name):
    result = cli(name, "--help")
    assert result.exit_code == 0
    assert "Examples" in result.stdout or "Commands" in result.stdout
    command = load_command(name)
    assert (command.help or "").splitlines()[0].strip() == COMMANDS[name][1]


def test_config_subcommands_have_examples(cli):
    for sub in ("show", "path"):
        assert "Examples" in cli("config", sub, "--help").stdout


def test_version(cli):
    result = cli("--version")
    assert result.exit_code == 0 and result.stdout.strip() == f"vfx-ingest {__version__}"


def test_console_script_runs():
    out = subprocess.run(
        [sys.executable, "-m", "vfx_ingest", "--version"], capture_output=True, text=True
    )
    assert out.returncode == 0 and __version__ in out.stdout


def test_run_json_stdout_is_only_json_lines(cli, clips, tmp_path):
    result = cli("run", clips(frames=6), "--shot", tmp_path / "shot", "--json")
    assert result.exit_code == 0
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    types = [line["type"] for line in lines]
    assert types[0] == "stage" and types[-1] == "result"
    assert "progress" in types
    progress = [line for line in lines if line["type"] == "progress"]
    assert progress[-1]["done"] == progress[-1]["total"] == 6
    assert lines[-1]["status"] == "ok"
    assert lines[-1]["records"][0]["outputs"]["plate/plate.1001.png"]["sha256"]
    assert result.stderr == ""


def test_piped_human_output_has_no_bars_and_stdout_is_the_shot(cli, clips, tmp_path):
    result = cli("run", clips(frames=6), "--shot", tmp_path / "shot")
    assert result.stdout.strip() == str(tmp_path / "shot")
    assert "\x1b[" not in result.stderr and "ingest: done" in result.stderr
    quiet = cli("run", clips(frames=6), "--shot", tmp_path / "q", "--quiet")
    assert quiet.stderr == ""


def test_stages_listing_and_options(cli):
    table = cli("stages")
    assert table.exit_code == 0 and "ingest" in table.stdout and "plate" in table.stdout
    rows = {row["stage"]: row for row in cli.json_lines(cli("stages", "--json").stdout)}
    assert rows["ingest"]["produces"] == ["plate"] and not rows["ingest"]["chunkable"]
    assert rows["depth"]["needs"] == ["plate"] and rows["depth"]["chunkable"]
    assert rows["depth"]["models"][0] == "vda-small"
    assert rows["camera"]["needs"] == ["plate"] and rows["camera"]["produces"] == ["camera"]
    assert rows["camera"]["uses"] == ["roto"] and rows["ingest"]["uses"] == []
    options = cli("stages", "ingest")
    assert "--max-size" in options.stdout and "1001" in options.stdout
    schema = json.loads(cli("stages", "ingest", "--json").stdout)
    assert "first_frame" in schema["params"]["properties"]
    assert cli("stages", "nope").exit_code == 2


def test_stage_option_flags_are_unique_across_stages():
    from vfx_ingest.cli.run_cmd import option_flag
    from vfx_ingest.stages import REGISTRY

    static = {
        *("--stages", "--shot", "--backend", "--device", "--force", "--json", "--quiet"),
        *("--max-cost", "--gpu", "--refresh", "--usage", "--runs", "--max-workers"),
    }
    flags = [option_flag(s, f) for s in REGISTRY.values() for f in s.params.model_fields]
    assert len(flags) == len(set(flags)) and not static & set(flags)


def test_status_of_a_folder_without_manifest_is_bad_input(cli, tmp_path):
    result = cli("status", tmp_path)
    assert result.exit_code == 2 and "no shot.json" in result.stderr
