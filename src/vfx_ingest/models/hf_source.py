"""Hugging Face Hub downloads through huggingface_hub, into its standard cache.

huggingface_hub does the transfer (HF_TOKEN or `hf auth login` for credentials,
HF_ENDPOINT for mirrors, HF_HOME / HF_HUB_CACHE for the cache, HF_HUB_OFFLINE), so the
files are shared with every other tool on the machine. We add: a progress callback, the
sha256 check (against models.lock, the registry, or the Hub's own LFS digest, which names
the blob), removal of a blob that does not verify, and errors a user can act on.
"""

from __future__ import annotations

import threading
import time
import weakref
from pathlib import Path
from typing import Any

from .fetch import AccessDenied, ChecksumMismatch, FetchRequest, ProgressFn, SourceFailed, mismatch
from .registry import ModelEntry
from .sources import HfSource
from .store import Expected, Store

TOKEN_HELP = "set HF_TOKEN to a token of that account (or run `hf auth login`)"

# What probing the Hub gave, per sync (keyed by the sync's cancel event) and endpoint:
# one probe for all the files a sync fetches in parallel. None: the Hub answered.
_probes: weakref.WeakKeyDictionary[threading.Event, dict[str, SourceFailed | None]] = (
    weakref.WeakKeyDictionary()
)
_probes_lock = threading.Lock()


def have_token() -> bool:
    from huggingface_hub import get_token

    return bool(get_token())


def offline() -> bool:
    from huggingface_hub import constants

    return bool(constants.HF_HUB_OFFLINE)


def gated_help(entry: ModelEntry, source: HfSource) -> str:
    page = entry.homepage or f"https://huggingface.co/{source.repo}"
    return f"Accept its license at {page} while logged in to Hugging Face, then {TOKEN_HELP}"


def _bar_class(on_progress: ProgressFn) -> type:
    """A tqdm class that reports to ``on_progress`` instead of drawing anything."""
    from tqdm import tqdm

    class Bar(tqdm):  # type: ignore[misc]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs["disable"] = True
            super().__init__(*args, **kwargs)

        def update(self, n: float | None = 1) -> bool | None:
            self.n += n or 0
            on_progress(int(self.n), int(self.total) if self.total else None)
            return None

    return Bar


def unreachable_help(store: Store) -> str:
    """What to do when the Hub cannot be reached: another route to it, or no network."""
    return (
        "Check the network, or set HTTPS_PROXY for a proxy, or HF_ENDPOINT for a Hub mirror; "
        "without network, copy the model's folder (models--<org>--<name>) from a machine "
        f"that has it into {store.hf_cache}, then run `vfx-ingest models verify`"
    )


def reach_hub(entry: ModelEntry, request: FetchRequest, store: Store) -> None:
    """Make sure the Hub answers, trying ``request.retries`` more times (0.5, 1, 2, 4 s
    apart) before giving up with what to do. huggingface_hub's own downloads retry 5 times
    over about 25 s whatever we ask, so an unreachable Hub is found out here first."""
    from huggingface_hub import constants

    endpoint = constants.ENDPOINT
    with _probes_lock:  # held while probing: the other files wait for the one answer
        probes = _probes.setdefault(request.cancel, {})
        if endpoint not in probes:
            probes[endpoint] = _probe(entry, request, store, endpoint)
        failed = probes[endpoint]
    if failed is not None:
        raise failed


def _probe(
    entry: ModelEntry, request: FetchRequest, store: Store, endpoint: str
) -> SourceFailed | None:
    from huggingface_hub import get_session

    tries = request.retries + 1
    for attempt in range(tries):
        request.check_cancelled()
        try:
            # Any HTTP answer, even an error status, means the Hub is reachable.
            get_session().head(endpoint, timeout=request.timeout)
            return None
        except Exception as exc:  # whatever transport errors huggingface_hub's client raises
            reason = (str(exc).splitlines() or [type(exc).__name__])[0].rstrip(".")
            if attempt + 1 < tries:
                time.sleep(min(0.5 * 2**attempt, 4.0))
    return SourceFailed(
        f"{entry.id}: the Hugging Face Hub ({endpoint}) could not be reached after "
        f"{tries} {'try' if tries == 1 else 'tries'} ({reason})",
        fix=unreachable_help(store),
    )


def fetch_hf(
    entry: ModelEntry, source: HfSource, request: FetchRequest, store: Store, *, force: bool
) -> tuple[Path, str]:
    """Bring one file into the Hub cache; return its snapshot path and sha256."""
    from huggingface_hub import errors as hf
    from huggingface_hub import hf_hub_download

    request.check_cancelled()
    if not offline():
        reach_hub(entry, request, store)
    try:
        pointer = Path(
            hf_hub_download(
                source.repo,
                request.path,
                subfolder=source.subfolder,
                revision=source.revision,
                cache_dir=store.hf_cache,
                force_download=force,
                etag_timeout=request.timeout,
                tqdm_class=_bar_class(request.on_progress),
            )
        )
    except hf.GatedRepoError as exc:
        raise AccessDenied(
            f"{entry.id} is gated on the Hub ({source.repo}) and "
            + ("your token has no access to it" if have_token() else "no token is set"),
            fix=gated_help(entry, source),
        ) from exc
    except hf.RepositoryNotFoundError as exc:
        raise AccessDenied(
            f"{source.repo} was not found on the Hub, or is private",
            fix=f"Check the model's source; for a private repo {TOKEN_HELP}",
        ) from exc
    except hf.LocalEntryNotFoundError as exc:
        if offline():
            raise SourceFailed(
                f"{entry.id}/{request.path} is not in the Hub cache and HF_HUB_OFFLINE is set",
                fix="Unset HF_HUB_OFFLINE to download it, or copy the cache from a machine "
                "that has it",
            ) from exc
        raise SourceFailed(
            f"{entry.id}/{request.path}: the Hub could not be reached", fix=unreachable_help(store)
        ) from exc
    # After LocalEntryNotFoundError, which is an EntryNotFoundError too.
    except (hf.RevisionNotFoundError, hf.EntryNotFoundError) as exc:
        raise SourceFailed(f"{source}: {request.path} not found at {source.revision}") from exc
    except hf.HfHubHTTPError as exc:
        if exc.response is not None and exc.response.status_code == 401 and have_token():
            # The Hub refuses a token it does not know on every repo, public ones too.
            raise AccessDenied(
                f"the Hub refused the Hugging Face token while fetching {entry.id} "
                "(invalid or expired)",
                fix=f"{TOKEN_HELP[0].upper()}{TOKEN_HELP[1:]}, or unset it for public models",
            ) from exc
        raise SourceFailed(f"{entry.id}/{request.path}: {str(exc).splitlines()[0]}") from exc
    except (OSError, ValueError) as exc:
        raise SourceFailed(f"{entry.id}/{request.path}: {str(exc).splitlines()[0]}") from exc
    sha256, _ = store.hash(pointer, full=True)
    blob = pointer.resolve()
    if request.expected is None and len(blob.name) == 64:
        request.expected = Expected("the Hub's LFS digest", blob.name)
    why = mismatch(request, sha256, blob.stat().st_size)
    if why is not None:
        pointer.unlink(missing_ok=True)
        if blob != pointer:
            blob.unlink(missing_ok=True)
        raise ChecksumMismatch(
            f"checksum mismatch for {entry.id}/{request.path}: {why}; the file was removed "
            "from the Hub cache",
            fix="Run the sync again; if it persists the repository changed: pin a revision",
        )
    return pointer, sha256
