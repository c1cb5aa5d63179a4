"""Google Drive downloads through gdown.

gdown knows Drive's confirmation pages, cookies and quota answers; we give it a staging
path (``<file>.part``, which gdown resumes from), a timeout, retries, our progress callback
and the cancel event, then verify the sha256 and move the file into place ourselves.
"""

from __future__ import annotations

from ..digest import sha256_file
from .fetch import Cancelled, FetchRequest, SourceFailed, publish
from .sources import GdriveSource


def fetch_gdrive(source: GdriveSource, request: FetchRequest) -> str:
    """Download ``source`` to ``request.dest``; return its sha256."""
    import gdown
    import requests
    from gdown.exceptions import DownloadCancelled, DownloadError, FileURLRetrievalError

    request.check_cancelled()
    staged = request.partial
    staged.parent.mkdir(parents=True, exist_ok=True)
    try:
        result = gdown.download(
            id=source.file_id,
            output=str(staged),
            quiet=True,
            resume=True,
            progress=request.on_progress,
            timeout=request.timeout,
            retries=request.retries,
            cancel=request.cancel,
        )
    except DownloadCancelled as exc:
        raise Cancelled(f"download of {request.model}/{request.path} was cancelled") from exc
    except FileURLRetrievalError as exc:
        raise SourceFailed(
            f"{request.model}/{request.path}: Google Drive refused {source} "
            f"({str(exc).splitlines()[0]})",
            fix="Drive limits downloads of popular files per day: try again later, or "
            "download it in a browser and place it with `vfx-ingest models path`",
        ) from exc
    except (DownloadError, requests.RequestException) as exc:
        raise SourceFailed(
            f"{request.model}/{request.path}: download from {source} failed "
            f"({str(exc).splitlines()[0]}); the partial file is kept",
            fix="Run the same `vfx-ingest models sync` again to resume",
        ) from exc
    if result is None or not staged.is_file():
        raise SourceFailed(f"{request.model}/{request.path}: gdown returned no file for {source}")
    sha256 = sha256_file(staged)
    publish(request, staged, sha256)
    return sha256
