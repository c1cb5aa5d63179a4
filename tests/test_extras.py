"""A core install: a stage or command whose extra is missing fails at once (exit 2) with
the extra to install, before any work. The missing module is hidden from a subprocess by
a meta-path finder, as if it had never been installed."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from vfx_ingest.extras import extra_for, extra_modules
from vfx_ingest.stages import REGISTRY

from conftest import REPO, child_env

HIDE = """
import importlib.abc, sys
HIDDEN = set(sys.argv[1].split(","))
class Hide(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in HIDDEN:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
sys.meta_path.insert(0, Hide())
sys.argv = ["vfx-ingest", *sys.argv[2:]]
from vfx_ingest.cli import main
main()
"""


def run_without(modules: tuple[str, ...], *args: str | Path) -> subprocess.CompletedProcess:
    env = child_env()
    return subprocess.run(
        [sys.executable, "-c", HIDE, ",".join(modules), *map(str, args)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_every_extra_of_pyproject_is_known_with_its_modules():
    declared = tomllib.loads((REPO / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    assert set(extra_modules()) == set(declared) - {"all", "dev"}
    assert extra_modules()["camera"] == ("pycolmap", "pxr")
    assert (
        extra_for("pxr.Usd") == "camera"
        and extra_for("boto3") == "s3"
        and extra_for("numpy") is None
    )


@pytest.mark.parametrize("spec", [s for s in REGISTRY.values() if s.extras], ids=lambda s: s.name)
def test_a_stage_whose_extra_is_missing_fails_before_any_work(clips, tmp_path, spec):
    # The stage's own extra (the last; e.g. roto after ml): hide what only it installs.
    *others, extra = spec.extras
    modules = extra_modules()
    hidden = set(modules[extra]).difference(*(modules[e] for e in others))
    assert hidden
    shot = tmp_path / "shot"
    result = run_without(
        tuple(sorted(hidden)), "run", clips(frames=4), "--shot", shot, "--stages", spec.name
    )
    assert result.returncode == 2, result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert f"the {spec.name} stage needs" in line and f"pip install 'vfx-ingest[{extra}]'" in line
    assert not shot.exists()


def test_a_command_whose_extra_is_missing_names_it(tmp_path):
    result = run_without(("modal",), "deploy", "modal")
    assert result.returncode == 2, result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert "modal is not installed" in line and "pip install 'vfx-ingest[modal]'" in line
