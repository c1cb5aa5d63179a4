"""What a new user reads from the CLI (issue 17, items 23-28): the run's result line, the
progress and done lines, help text, tables at 80 columns, model sizes, configuration typos,
and a shot folder left tidy."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest


def test_run_json_result_names_the_shot_folder(cli, clips, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    clip = clips(frames=3)
    result = cli("run", clip, "--json")  # default shot folder: ./<clip name>
    assert result.exit_code == 0, result.stderr
    final = json.loads(result.stdout.splitlines()[-1])
    assert final["type"] == "result"
    assert Path(final["shot"]) == tmp_path / clip.stem
    assert (Path(final["shot"]) / "shot.json").is_file()


def test_cached_line_says_the_time_is_the_earlier_runs(cli, clips, tmp_path):
    clip, shot = clips(frames=3), tmp_path / "shot"
    first = cli("run", clip, "--shot", shot)
    assert re.search(r"ingest: done \(1001-1003, \d+\.\d s\)", first.stderr), first.stderr
    again = cli("run", clip, "--shot", shot)
    line = next(x for x in again.stderr.splitlines() if "ingest: cached" in x)
    assert re.search(r"made in \d+\.\d s earlier", line), line


def test_a_finished_run_leaves_no_staging_folder_or_lock_file(cli, clips, tmp_path):
    shot = tmp_path / "shot"
    assert cli("run", clips(frames=3), "--shot", shot).exit_code == 0
    assert sorted(p.name for p in shot.iterdir()) == ["plate", "shot.json"]


def test_lock_released_by_a_holder_is_taken_afresh(tmp_path):
    from vfx_ingest.errors import ShotBusy
    from vfx_ingest.shot import LOCK_NAME, ShotFolder

    shot = ShotFolder(tmp_path)
    with shot.lock():
        assert (tmp_path / LOCK_NAME).read_text().startswith("pid ")
        with pytest.raises(ShotBusy), ShotFolder(tmp_path).lock():
            pass
    assert not (tmp_path / LOCK_NAME).exists()
    with shot.lock():  # and again, on a new lock file
        assert (tmp_path / LOCK_NAME).exists()


@pytest.mark.parametrize(
    ("toml", "key"),
    [
        ("[params.ingest]\nfirs_frame = 1\n", "params.ingest.firs_frame"),
        ("[params.ingst]\nfirst_frame = 1\n", "params.ingst"),
        ("[cost]\nstale_aftr_days = 3\n", "cost.stale_aftr_days"),
        ("backnd = 'local'\n", "backnd"),
    ],
)
def test_a_typo_in_the_project_file_is_caught_naming_the_file(
    cli, clips, isolated_config, toml, key
):
    project = isolated_config / "vfx-ingest.toml"
    project.write_text(toml)
    for args in (("config", "show"), ("run", clips(frames=3))):
        result = cli(*args)
        assert result.exit_code == 2, (args, result.stdout)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and str(project) in lines[0] and key in lines[0], lines
    assert not (isolated_config / clips(frames=3).stem).exists()  # nothing written


def every_command():
    from vfx_ingest.cli import COMMANDS, load_command

    for name in COMMANDS:
        command = load_command(name)
        yield (name,), command
        for sub, subcommand in getattr(command, "commands", {}).items():
            yield (name, sub), subcommand


def test_help_has_no_placeholders_for_flags_braces_or_parenthesised_defaults(cli, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    for path, command in every_command():
        text = cli(*path, "--help").stdout
        usage = text.split("Usage:")[1].splitlines()[0]
        assert "{" not in usage, (path, usage)
        for wrong in ("<bool>", "[default: ("):
            assert wrong not in text, (path, wrong)
        for param in command.params:
            if param.param_type_name == "argument":
                shown = param.name.upper() if param.required else f"[{param.name.upper()}]"
                assert shown in usage, (path, usage)


def test_group_help_ends_with_examples(cli):
    groups = [path for path, command in every_command() if getattr(command, "commands", None)]
    assert groups
    for path in groups:
        text = cli(*path, "--help").stdout
        assert "Examples:" in text and f"vfx-ingest {path[0]} " in text.split("Examples:")[1]


def test_stage_and_backend_options_list_the_registries():
    from vfx_ingest.backends import BACKENDS
    from vfx_ingest.stages import REGISTRY

    seen = []
    for path, command in every_command():
        for param in command.params:
            if "--stages" in param.opts:
                assert all(name in param.help for name in REGISTRY), (path, param.help)
                seen.append(path)
            if "--backend" in param.opts:
                assert all(name in param.help for name in BACKENDS), (path, param.help)
                seen.append(path)
    assert {("run",), ("cost",), ("models", "sync")} <= set(seen)


def test_quality_explains_its_presets_itself():
    from vfx_ingest.camera.presets import PRESETS
    from vfx_ingest.stages.camera import CameraParams

    text = CameraParams.model_fields["quality"].description
    assert "README" not in text
    for name, preset in PRESETS.items():
        assert name in text and str(preset.max_features) in text
