"""This package, as it is imported now, packed as a wheel for remote worker images.

A worker must run the client's own code (the job schema, the stages), and users run from
a PyPI install as often as from a checkout, where no build backend is at hand. So the
wheel is assembled from the imported package's files and the installed distribution's
metadata (its dependencies and extras), following PEP 427: a zip with a ``.dist-info``
folder whose ``RECORD`` lists every file's urlsafe-base64 sha256. Entries carry a fixed
date, so unchanged code gives a byte-identical wheel (and a cached image layer).
"""

from __future__ import annotations

import base64
import hashlib
import zipfile
from importlib import metadata
from pathlib import Path

from . import __version__
from .errors import BadInput

DISTRIBUTION = "vfx-ingest"
PACKAGE = "vfx_ingest"
_EPOCH = (2020, 1, 1, 0, 0, 0)


def _metadata_text() -> str:
    """METADATA of the installed distribution, with this code's version."""
    try:
        text = metadata.distribution(DISTRIBUTION).read_text("METADATA") or ""
    except metadata.PackageNotFoundError:
        text = ""
    if not text:
        raise BadInput(
            "vfx-ingest is not installed as a package here, so its dependencies are unknown",
            fix="Install it (pip install -e . in a checkout) and try again",
        )
    lines = [
        f"Version: {__version__}" if line.startswith("Version:") else line
        for line in text.splitlines()
    ]
    return "\n".join(lines) + "\n"


def _package_files() -> list[tuple[str, bytes]]:
    root = Path(__file__).resolve().parent
    return [
        (f"{PACKAGE}/{path.relative_to(root).as_posix()}", path.read_bytes())
        for path in sorted(root.rglob("*"))
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
    ]


def _record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"sha256={digest}"


def build_wheel(dest_dir: Path) -> Path:
    """Write ``vfx_ingest-<version>-py3-none-any.whl`` into ``dest_dir``; its path."""
    info = f"{PACKAGE}-{__version__}.dist-info"
    files = _package_files()
    files.append((f"{info}/METADATA", _metadata_text().encode()))
    files.append(
        (
            f"{info}/WHEEL",
            b"Wheel-Version: 1.0\nGenerator: vfx-ingest\nRoot-Is-Purelib: true\n"
            b"Tag: py3-none-any\n",
        )
    )
    files.append(
        (f"{info}/entry_points.txt", b"[console_scripts]\nvfx-ingest = vfx_ingest.cli:main\n")
    )
    record = "".join(f"{name},{_record_hash(data)},{len(data)}\n" for name, data in files)
    files.append((f"{info}/RECORD", (record + f"{info}/RECORD,,\n").encode()))
    dest_dir.mkdir(parents=True, exist_ok=True)
    wheel = dest_dir / f"{PACKAGE}-{__version__}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files:
            entry = zipfile.ZipInfo(name, date_time=_EPOCH)
            entry.external_attr = 0o644 << 16
            archive.writestr(entry, data, zipfile.ZIP_DEFLATED)
    return wheel
