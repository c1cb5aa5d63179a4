"""What the CLI calls for pods: ``worker pod`` (inside a pod), ``pods list`` (the
``resources`` hook) and ``pods gc`` (the ``cleanup`` hook)."""

from __future__ import annotations

import os
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from ....config import Settings
from ...base import CleanupReport, Resource
from .control import GONE, PodControl
from .ledger import NAME_PREFIX, Ledger, PodEntry

DEADLINE_ENV = "VFX_INGEST_POD_DEADLINE"


def worker_pod(host: str, port: int) -> None:
    """``vfx-ingest worker pod``: become the watchdog (standard library only), which runs
    the worker server as its child. Never returns."""
    from ....config import load_settings
    from . import watchdog

    rp = load_settings().runpod
    status = str(Path(tempfile.gettempdir()) / "vfx-ingest-pod-status.json")
    deadline = os.environ.get(DEADLINE_ENV) or str(time.time() + rp.pod_deadline * 3600)
    server = [sys.executable, "-m", "vfx_ingest.backends.runpod.pod.server"]
    server += ["--host", host, "--port", str(port), "--status", status]
    argv = [sys.executable, watchdog.__file__, "--status", status, "--rest", rp.rest_url]
    argv += ["--heartbeat", str(rp.pod_heartbeat_timeout_s), "--idle", str(rp.pod_idle_timeout_s)]
    argv += ["--deadline", deadline, "--", *server]
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, argv)


def _control(settings: Settings) -> PodControl:
    rp = settings.runpod
    return PodControl(rp.rest_url, rp.api_key.get_secret_value() if rp.api_key else None)


def _age(pod: dict[str, Any]) -> timedelta:
    created = datetime.fromisoformat(str(pod["createdAt"]).replace("Z", "+00:00"))
    return datetime.now(UTC) - created


def ours(pods: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [p for p in pods if str(p.get("name", "")).startswith(NAME_PREFIX)]


def resources(settings: Settings) -> list[Resource]:
    """Our pods (by name prefix, so a pod whose create answer was lost is listed too),
    with what this machine's ledger knows of each. Without a RunPod key and with nothing in
    the ledger there is nothing of ours to list (``storage list`` asks every backend)."""
    if settings.runpod.api_key is None and not Ledger().entries():
        return []
    control = _control(settings)
    try:
        pods = ours(control.pods())
    finally:
        control.close()
    known = {e.pod_id: e for e in Ledger().entries()}
    rows = []
    for pod in pods:
        entry = known.get(pod["id"])
        rows.append(
            Resource(
                backend="runpod-pod",
                kind="pod",
                name=pod["name"],
                id=pod["id"],
                status=pod["status"],
                detail=_detail(pod, entry),
            )
        )
    return rows


def _detail(pod: dict[str, Any], entry: PodEntry | None) -> str:
    gpu = (pod.get("gpu") or {}).get("id", "cpu")
    parts = [gpu, f"${pod.get('cost', 0):.2f}/h", f"age {_short(_age(pod))}"]
    if entry is None:
        parts.append("not in this machine's ledger")
    else:
        parts.append(f"run {entry.run_id[:12]}")
        if entry.last_heartbeat:
            parts.append(f"heartbeat {_short(datetime.now(UTC) - entry.last_heartbeat)} ago")
        if entry.deadline:
            parts.append(f"deadline {entry.deadline:%H:%M}Z")
        parts.append(
            "kept" if entry.kept else f"client {'alive' if entry.client_alive() else 'gone'}"
        )
    return ", ".join(parts)


def _short(age: timedelta) -> str:
    seconds = int(age.total_seconds())
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def cleanup(
    settings: Settings, older_than: timedelta, dry_run: bool, everything: bool = False
) -> CleanupReport:
    """Terminate our leftover pods: those of this machine's runs whose client is gone,
    and those of ours older than ``older_than`` that no live run here holds (a lost create
    answer; another machine's run, once past that age). ``everything``: all of ours."""
    ledger = Ledger()
    entries = {e.pod_id: e for e in ledger.entries()}
    control = _control(settings)
    removed = kept = 0
    try:
        for pod in ours(control.pods()):
            if pod.get("status") == GONE:
                continue
            entry = entries.pop(pod["id"], None)
            held = entry is not None and (entry.kept or entry.client_alive())
            stale = entry is not None and not held
            if not (everything or stale or (not held and _age(pod) >= older_than)):
                kept += 1
                continue
            if not dry_run:
                control.terminate(pod["id"])
                ledger.remove(pod["id"])
            removed += 1
        if not dry_run:
            for gone in entries:  # RunPod no longer has them
                if not entries[gone].client_alive():
                    ledger.remove(gone)
    finally:
        control.close()
    return CleanupReport(
        backend="runpod-pod",
        where=f"pods named {NAME_PREFIX}* at {settings.runpod.rest_url}",
        removed=removed,
        bytes=0,
        kept=kept,
        dry_run=dry_run,
    )
