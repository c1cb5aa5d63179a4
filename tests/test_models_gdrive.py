"""The Google Drive adapter at its boundary with gdown.

Drive cannot be reached from here, so ``gdown.download`` is replaced by a stand-in that
records what our adapter passes and then writes bytes or raises gdown's own exceptions.
What is *not* exercised offline: Drive's confirmation page for large files, its cookies,
its quota answers as Drive phrases them, and gdown's own resume against Drive; gdown's
tests cover those. Exercised here: the arguments we pass (id, staging path, resume, quiet,
timeout, retries, progress, cancel), verify-then-move of the result, and how gdown's
errors become our one-line errors and exit codes.
"""

from __future__ import annotations

import inspect
from pathlib import Path

import gdown
import pytest
from gdown.exceptions import DownloadError, FileURLRetrievalError

from model_servers import registry_toml, sha256

DRIVE_ID = "1i7kt9RlCCCNEW2aYaDWVr-G778JkLNcB"
DATA = b"drive weights" * 5000


@pytest.fixture
def drive(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    calls: list[dict] = []
    behaviour: dict = {"raise": None, "data": DATA}

    real = inspect.signature(gdown.download)

    def fake_download(*args, **kwargs):
        # Takes exactly what gdown's own download() takes: a call gdown would refuse fails.
        kwargs = real.bind(*args, **kwargs).arguments
        calls.append(kwargs)
        if behaviour["raise"] is not None:
            raise behaviour["raise"]
        data = behaviour["data"]
        kwargs["progress"](len(data) // 2, len(data))
        kwargs["progress"](len(data), len(data))
        Path(kwargs["output"]).write_bytes(data)
        return kwargs["output"]

    monkeypatch.setattr(gdown, "download", fake_download)
    registry = tmp_path / "registry.toml"
    monkeypatch.setenv("VFX_INGEST_MODELS_REGISTRY", str(registry))
    monkeypatch.setenv("VFX_INGEST_MODELS_DIR", str(tmp_path / "models"))

    def write(digest: str | None = sha256(DATA)) -> None:
        file = {"path": "wham.pth.tar"} | ({"sha256": digest} if digest else {})
        registry.write_text(
            registry_toml([{"id": "test-d", "sources": [f"gdrive://{DRIVE_ID}"], "files": [file]}])
        )

    return calls, behaviour, write, tmp_path / "models" / "test-d"


def test_what_we_pass_to_gdown_and_what_we_do_with_the_file(cli, drive):
    calls, _, write, folder = drive
    write()
    result = cli("models", "sync", "test-d", "--timeout", "7", "--retries", "2", "--json")
    assert result.exit_code == 0, result.stderr
    (call,) = calls
    assert call["id"] == DRIVE_ID and "url" not in call
    assert call["output"] == str(folder / "wham.pth.tar.part")  # staged, resumable
    assert call["resume"] is True and call["quiet"] is True
    assert call["timeout"] == 7.0 and call["retries"] == 2
    assert call["cancel"] is not None and not call["cancel"].is_set()
    assert (folder / "wham.pth.tar").read_bytes() == DATA
    assert not (folder / "wham.pth.tar.part").exists()
    progress = [e for e in cli.json_lines(result.stdout) if e["type"] == "download"]
    assert progress[-1]["done"] == progress[-1]["total"] == len(DATA)


def test_a_drive_file_that_does_not_verify_is_removed(cli, drive):
    _, _, write, folder = drive
    write(digest=sha256(b"something else"))
    result = cli("models", "sync", "test-d")
    assert result.exit_code == 1 and "checksum mismatch for test-d/wham.pth.tar" in result.stderr
    assert not any(folder.iterdir())


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (
            FileURLRetrievalError("Too many users have viewed or downloaded this file"),
            "Google Drive refused",
        ),
        (DownloadError("body ended after 10 of 100 bytes"), "the partial file is kept"),
    ],
)
def test_gdown_errors_become_one_line_and_exit_1(cli, drive, error, expected):
    _, behaviour, write, _ = drive
    write()
    behaviour["raise"] = error
    result = cli("models", "sync", "test-d")
    assert result.exit_code == 1
    assert expected in result.stderr and len(result.stderr.strip().splitlines()) == 1
