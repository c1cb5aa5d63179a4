"""The README's two commands are the ones CI and users run."""

from __future__ import annotations

import re

from conftest import REPO


def readme_commands() -> list[str]:
    text = (REPO / "README.md").read_text()
    section = text.split("## The two commands", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.+?)\n```", section)


def test_ci_runs_the_readme_test_command_verbatim():
    _, tests = readme_commands()
    ci_lines = (REPO / ".ci" / "run").read_text().splitlines()
    assert tests in ci_lines
    assert "pytest" in tests and "torch==2.13.0" in tests.split("-e")[0]


def test_the_main_command_runs_the_bundled_example():
    main, _ = readme_commands()
    clip = re.search(r"vfx-ingest run (\S+)", main)
    assert clip is not None
    assert (REPO / clip.group(1)).is_file()
