"""Content digests for inputs, outputs and cache keys.

Hashing a large plate on every run would cost seconds, so a file's digest is reused while
its size and modification time are unchanged (as git's index and make do); a changed stat
means the file is hashed again.
"""

from __future__ import annotations

import hashlib
import json
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel


class FileDigest(BaseModel):
    """What we know of one file: its content hash and the stat that hash was taken at."""

    sha256: str
    size: int
    mtime_ns: int

    def matches_stat(self, path: Path) -> bool:
        try:
            st = path.stat()
        except OSError:
            return False
        return st.st_size == self.size and st.st_mtime_ns == self.mtime_ns


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def file_digest(path: Path, known: FileDigest | None = None) -> FileDigest:
    """Digest ``path``, reusing ``known`` when the file's stat still matches it."""
    if known is not None and known.matches_stat(path):
        return known
    st = path.stat()
    return FileDigest(sha256=sha256_file(path), size=st.st_size, mtime_ns=st.st_mtime_ns)


def verify(path: Path, expected: FileDigest, *, full: bool = False) -> bool:
    """True when ``path`` still holds the content ``expected`` describes."""
    try:
        # One stat per file: `status` and the dashboard verify thousands of frames per look.
        st = path.stat()
    except OSError:
        return False
    if not stat.S_ISREG(st.st_mode) or st.st_size != expected.size:
        return False
    if not full and st.st_mtime_ns == expected.mtime_ns:
        return True
    return sha256_file(path) == expected.sha256


def tree_digest(files: Mapping[str, FileDigest]) -> str:
    """One digest for a set of files: their relative paths and contents, order-independent."""
    h = hashlib.sha256()
    for rel in sorted(files):
        h.update(rel.encode())
        h.update(b"\0")
        h.update(files[rel].sha256.encode())
        h.update(b"\n")
    return h.hexdigest()


def json_digest(value: Any) -> str:
    """Digest of a JSON-serialisable value in canonical form (sorted keys, no spaces)."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()
