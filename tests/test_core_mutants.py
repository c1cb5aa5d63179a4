"""Tests written to kill the mutants of the core that the suite let live
(``benchmarks/mutation.py``; the survivors left are listed in docs/testing.md with the
reason each is equivalent). Each says which fault it catches."""

from __future__ import annotations

from pathlib import Path

import pytest

from vfx_ingest.errors import BadInput
from vfx_ingest.job import object_key
from vfx_ingest.paths import safe_join


def test_object_keys_follow_the_documented_layout() -> None:
    """Client and worker of different versions meet on this layout (a volume's paths)."""
    digest = "ab" + "c" * 62
    assert object_key("vfx-ingest/cas/", digest) == f"vfx-ingest/cas/ab/{digest}"


@pytest.mark.parametrize("relpath", ["a/../b", "", "./a", "a//b"])
def test_safe_join_refuses_unclean_paths_that_stay_inside(tmp_path: Path, relpath: str) -> None:
    """``a/../b`` resolves inside the root, so only the text check refuses it."""
    (tmp_path / "a").mkdir()
    with pytest.raises(BadInput, match="refused"):
        safe_join(tmp_path, relpath)
