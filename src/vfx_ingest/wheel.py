"""A wheel of the vfx-ingest that is running now, for worker images.

A remote worker must speak the client's job schema, so its image gets exactly this code:
the package's files as imported here plus the installed distribution's metadata (name,
version, dependencies and extras). No build backend or network is needed, which also
makes it work from an editable checkout. Format: PEP 427 (``RECORD`` with urlsafe-base64
sha256 digests).
"""

from __future__ import annotations

import base64
import hashlib
import zipfile
from pathlib import Path

from . import __version__

NAME = "vfx-ingest"
DIST = "vfx_ingest"


def _metadata() -> str:
    from importlib import metadata

    try:
        return metadata.distribution(NAME).read_text("METADATA") or ""
    except metadata.PackageNotFoundError:
        return ""


def build_wheel(dest_dir: Path) -> Path:
    """Write ``vfx_ingest-<version>-py3-none-any.whl`` into ``dest_dir``; return its path."""
    package = Path(__file__).resolve().parent
    meta = _metadata()
    lines = [line for line in meta.splitlines() if not line.startswith("Version:")]
    if not any(line.startswith("Name:") for line in lines):
        lines.insert(0, f"Name: {NAME}")
        lines.insert(0, "Metadata-Version: 2.1")
    lines.insert(2, f"Version: {__version__}")
    info = f"{DIST}-{__version__}.dist-info"
    files: list[tuple[str, bytes]] = [
        (f"{DIST}/{path.relative_to(package).as_posix()}", path.read_bytes())
        for path in sorted(package.rglob("*"))
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
    ]
    files.append((f"{info}/METADATA", ("\n".join(lines) + "\n").encode()))
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
    record = [f"{name},sha256={_b64(data)},{len(data)}" for name, data in files]
    record.append(f"{info}/RECORD,,")
    files.append((f"{info}/RECORD", ("\n".join(record) + "\n").encode()))
    dest_dir.mkdir(parents=True, exist_ok=True)
    wheel = dest_dir / f"{DIST}-{__version__}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files:
            # A fixed timestamp: the same code gives the same wheel (and image layer).
            entry = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
            entry.external_attr = 0o644 << 16
            archive.writestr(entry, data, zipfile.ZIP_DEFLATED)
    return wheel


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
