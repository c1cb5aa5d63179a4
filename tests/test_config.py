"""Configuration precedence and secrets, through the real settings sources."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from vfx_ingest.config import explain, load_settings, user_config_path
from vfx_ingest.errors import BadInput

SECRET = "rpa_0123456789abcdefSECRET"


def write_user_config(text: str) -> Path:
    path = user_config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_precedence_defaults_user_project_env_cli(isolated_config, monkeypatch):
    assert load_settings().device == "auto"
    write_user_config('device = "cpu"\nbackend = "from-user"\nstages = ["ingest"]\n')
    assert load_settings().device == "cpu"
    (isolated_config / "vfx-ingest.toml").write_text('device = "cuda"\nshots_dir = "shots"\n')
    settings = load_settings()
    assert (settings.device, settings.backend) == ("cuda", "from-user")
    monkeypatch.setenv("VFX_INGEST_DEVICE", "cpu")
    assert load_settings().device == "cpu"
    assert load_settings(device="cuda").device == "cuda"
    sources = {row.key: row.source for row in explain(load_settings(device="cuda"), device="cuda")}
    assert sources["device"] == "command line"
    assert sources["backend"] == str(user_config_path())
    assert sources["shots_dir"].endswith("vfx-ingest.toml")
    assert sources["models_dir"] == "default"


def test_project_file_is_found_in_a_parent_folder(isolated_config, monkeypatch):
    (isolated_config / "vfx-ingest.toml").write_text("[params.ingest]\nfirst_frame = 1\n")
    nested = isolated_config / "a" / "b"
    nested.mkdir(parents=True)
    monkeypatch.chdir(nested)
    assert load_settings().params == {"ingest": {"first_frame": 1}}


def test_env_lists_and_nested_keys(monkeypatch):
    monkeypatch.setenv("VFX_INGEST_STAGES", "ingest, depth")
    monkeypatch.setenv("VFX_INGEST_S3__BUCKET", "plates")
    settings = load_settings()
    assert settings.stages == ["ingest", "depth"] and settings.s3.bucket == "plates"


def test_secret_in_project_file_is_refused(isolated_config):
    (isolated_config / "vfx-ingest.toml").write_text(f'[runpod]\napi_key = "{SECRET}"\n')
    with pytest.raises(BadInput) as info:
        load_settings()
    assert "runpod.api_key is a secret" in info.value.line()
    assert SECRET not in info.value.line()


def test_secrets_from_env_or_user_file_are_never_shown(cli, monkeypatch):
    write_user_config(f'[s3]\nsecret_access_key = "{SECRET}"\n')
    monkeypatch.setenv("RUNPOD_API_KEY", SECRET + "2")
    settings = load_settings()
    assert settings.runpod.api_key is not None
    assert settings.runpod.api_key.get_secret_value() == SECRET + "2"
    for args in (["config", "show"], ["config", "show", "--json"]):
        result = cli(*args)
        assert result.exit_code == 0
        assert SECRET not in result.stdout + result.stderr
    shown = json.loads(cli("config", "show", "--json").stdout)
    assert shown["runpod.api_key"] == {"value": "(set)", "source": "environment (RUNPOD_API_KEY)"}
    assert shown["s3.secret_access_key"]["value"] == "(set)"


def test_invalid_value_names_its_source(isolated_config, cli):
    (isolated_config / "vfx-ingest.toml").write_text('device = "gpu"\n')
    result = cli("config", "show")
    assert result.exit_code == 2
    assert "invalid setting device" in result.stderr
    assert "vfx-ingest.toml" in result.stderr


def test_settings_params_feed_stage_defaults_and_cli_wins(cli, clips, isolated_config, tmp_path):
    (isolated_config / "vfx-ingest.toml").write_text("[params.ingest]\nfirst_frame = 1\n")
    shot = tmp_path / "shot"
    assert cli("run", clips(frames=3), "--shot", shot).exit_code == 0
    assert sorted(p.name for p in (shot / "plate").iterdir())[0] == "plate.0001.png"
    assert cli("run", clips(frames=3), "--shot", shot, "--first-frame", "101").exit_code == 0
    assert sorted(p.name for p in (shot / "plate").iterdir())[0] == "plate.0101.png"


def test_config_path_honours_override(cli, tmp_path, monkeypatch):
    default = write_user_config('device = "cuda"\n')  # not read once the override is set
    monkeypatch.setenv("VFX_INGEST_CONFIG", str(tmp_path / "custom.toml"))
    assert cli("config", "path").stdout.strip() == str(tmp_path / "custom.toml")
    (tmp_path / "custom.toml").write_text('backend = "local"\ndevice = "cpu"\n')
    assert load_settings().device == "cpu"
    shown = json.loads(cli("config", "show", "--json").stdout)
    assert str(tmp_path / "custom.toml") in shown["device"]["source"]
    assert str(default) not in json.dumps(shown)


def test_a_new_user_config_is_private_and_a_rewrite_keeps_the_mode(isolated_config):
    from vfx_ingest.config import save_user_values

    path = save_user_values({"runpod.endpoint_id": "abc"})
    assert path.stat().st_mode & 0o777 == 0o600
    for mode in (0o600, 0o640):
        path.chmod(mode)
        save_user_values({"runpod.endpoint_id": "def"})
        assert path.stat().st_mode & 0o777 == mode
    assert 'endpoint_id = "def"' in path.read_text()


def test_atomic_writes_keep_the_mode_of_the_file_they_replace(tmp_path):
    from vfx_ingest import atomic

    path = tmp_path / "secret.toml"
    atomic.write_text(path, "a", mode=0o600)
    assert path.stat().st_mode & 0o777 == 0o600
    path.chmod(0o604)
    atomic.write_text(path, "b")
    assert path.stat().st_mode & 0o777 == 0o604 and path.read_text() == "b"
    plain = tmp_path / "plain.txt"
    atomic.write_text(plain, "c")
    umask = os.umask(0)
    os.umask(umask)
    assert plain.stat().st_mode & 0o777 == 0o666 & ~umask  # what open() would have made
