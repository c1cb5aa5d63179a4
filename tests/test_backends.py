"""The backend interface: declarations, the registry, and what is derived from them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from vfx_ingest.backends import BACKENDS, backend_spec, run_options, with_hook, with_run_options
from vfx_ingest.backends.base import HOOKS, BackendSpec, load
from vfx_ingest.config import SECRET_KEYS, Settings, load_settings
from vfx_ingest.errors import BadInput

from conftest import REPO


@pytest.mark.parametrize("name", list(BACKENDS))
def test_every_declared_runner_and_hook_can_be_imported(name):
    spec = BACKENDS[name]
    assert spec.name == name
    assert callable(load(spec.runner))
    for hook in spec.hooks:
        assert hook in HOOKS and callable(spec.hook(hook)), hook


def test_settings_sections_come_from_the_registry():
    for spec in BACKENDS.values():
        if spec.settings_key:
            assert Settings.model_fields[spec.settings_key].annotation is spec.settings
    assert "runpod.api_key" in SECRET_KEYS  # a SecretStr field of a backend's section


def test_run_options_set_their_backends_section_and_are_refused_elsewhere():
    settings = load_settings()
    assert "modal" in run_options()["gpu"][1]
    modal = with_run_options("modal", settings, {"gpu": "L40S", "ephemeral": None})
    assert (modal.modal.gpu, modal.modal.ephemeral) == ("L40S", settings.modal.ephemeral)
    assert settings.modal.gpu is None  # the loaded settings are not changed
    with pytest.raises(BadInput) as info:
        with_run_options("local", settings, {"gpu": "L40S"})
    assert info.value.line().startswith("--gpu applies to the modal backend")


def test_a_declaration_is_checked():
    with pytest.raises(ValueError, match="unknown hooks"):
        BackendSpec(name="x", summary="x", runner="m:C", hooks={"deploy_all": "m:f"})
    with pytest.raises(ValueError, match="are not settings"):
        BackendSpec(
            name="x",
            summary="x",
            runner="m:C",
            settings_key="local",
            settings=type(load_settings().s3),
            options=backend_spec("modal").options,
        )


def test_commands_list_the_backends_that_have_the_hook(cli):
    deploy = cli("deploy", "--help").stdout
    assert all(spec.name in deploy for spec in with_hook("deploy"))
    assert "local" not in deploy.split("Commands")[-1]
    bad = cli("models", "sync", "--to", "local")
    assert bad.exit_code == 2 and "has no model store" in bad.stderr


TOY = """
import sys

from pydantic import BaseModel, Field

from vfx_ingest import backends
from vfx_ingest.backends.base import BackendSpec, Report


class ToySettings(BaseModel):
    region: str = Field("eu", description="Where the toys run.")
    fast: bool = Field(False, description="Toys run fast.")


class ToyOptions(BaseModel):
    fast: bool | None = Field(None, description="Run the toys fast this time.")


class ToyDeployOptions(BaseModel):
    size: int = Field(1, description="How many toys.")


class Deployed(Report):
    region: str
    size: int


def deploy(settings, options, say):
    say.note("deploying toys")
    return Deployed(region=settings.toy.region, size=options.size)


# The one line a new backend adds to backends/__init__.py:
backends.BACKENDS["toy"] = BackendSpec(
    name="toy",
    summary="toys",
    runner="vfx_ingest.backends.local:LocalBackend",
    settings_key="toy",
    settings=ToySettings,
    options=ToyOptions,
    deploy_options=ToyDeployOptions,
    deploy_help="Deploy the toys.",
    run_examples=["vfx-ingest run clip.mp4 --backend toy --fast"],
    hooks={"deploy": "__main__:deploy"},
)

from vfx_ingest.cli import main

sys.argv = ["vfx-ingest", *sys.argv[1:]]
main()
"""


def test_a_new_backend_is_one_registry_line(tmp_path, monkeypatch):
    """Registering a backend gives it its settings section (config show, env vars), its
    run options and examples, and its deploy command, with nothing else changed."""
    script = tmp_path / "toy.py"
    script.write_text(textwrap.dedent(TOY))
    monkeypatch.setenv("VFX_INGEST_TOY__REGION", "us")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), *sys.path])}

    def toy(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, str(script), *args],
            capture_output=True,
            text=True,
            env={**env, "COLUMNS": "120"},
            timeout=120,
        )

    shown = json.loads(toy("config", "show", "--json").stdout)
    assert shown["toy.region"] == {"value": "us", "source": "environment"}
    assert shown["toy.fast"] == {"value": False, "source": "default"}
    run_help = toy("run", "--help").stdout
    assert "--fast" in run_help and "Run the toys fast this time (toy)" in run_help
    assert "--backend toy --fast" in run_help
    deployed = toy("deploy", "toy", "--size", "3", "--json")
    assert deployed.returncode == 0, deployed.stderr
    assert json.loads(deployed.stdout) == {"region": "us", "size": 3}
    assert "deploying toys" not in deployed.stderr  # --json: the report is the output
    wrong = toy("run", "clip.mp4", "--fast")
    assert wrong.returncode == 2 and "--fast applies to the toy backend" in wrong.stderr
