"""Your own runs, remembered: a small SQLite file in the user data folder.

The pipeline adds one row per stage it ran (never a remote worker: only the user's own
machine writes the user's history). Estimates then prefer a model fitted to these rows over
the seeded figures:

- three or more runs of different sizes: least squares on
  ``wall = setup + frames * (per_frame + per_mp * work_mp)``;
- fewer: the seeded model scaled by the median of measured / seeded time (the seed keeps
  the shape, your machine sets the level); with no seed, time proportional to
  ``frames * work_mp``.

Device keys: ``gpu:<catalog id>`` (the same GPU prices the same anywhere, so fits carry
across backends) or ``cpu@<backend>`` (a CPU fit only speaks for the machine it ran on).
"""

from __future__ import annotations

import sqlite3
import statistics
from collections.abc import Callable, Iterable, Iterator
from contextlib import closing, contextmanager
from datetime import datetime
from pathlib import Path

from pydantic import BaseModel

from .catalog import Catalog
from .throughput import TimeModel

# Fits use the most recent runs only, so a changed machine or driver is learned quickly.
RECENT = 20

_SCHEMA = """
CREATE TABLE IF NOT EXISTS stage_runs (
    id INTEGER PRIMARY KEY,
    recorded_at TEXT NOT NULL,
    job_id TEXT NOT NULL,
    shot TEXT NOT NULL,
    stage TEXT NOT NULL,
    version TEXT NOT NULL,
    backend TEXT NOT NULL,
    device TEXT NOT NULL,
    device_key TEXT NOT NULL,
    frames INTEGER NOT NULL,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    wall_s REAL NOT NULL,
    cold_start_s REAL,
    cost_usd REAL,
    price_id TEXT,
    UNIQUE (job_id, stage)
);
CREATE INDEX IF NOT EXISTS stage_runs_key ON stage_runs (stage, device_key, recorded_at);
"""


class RunRow(BaseModel):
    recorded_at: datetime
    job_id: str
    shot: str
    stage: str
    version: str
    backend: str
    device: str
    device_key: str
    frames: int
    width: int
    height: int
    wall_s: float
    cold_start_s: float | None = None
    cost_usd: float | None = None
    price_id: str | None = None


def device_key(backend: str, device: str, catalog: Catalog) -> str:
    if device.lower().startswith("cpu"):
        return f"cpu@{backend}"
    spec = catalog.find_gpu(device)
    return f"gpu:{spec.id if spec else device}"


class History:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with closing(sqlite3.connect(self.path, timeout=10)) as db:
            db.executescript(_SCHEMA)
            with db:  # one transaction, committed on success
                yield db

    def add(self, rows: Iterable[RunRow]) -> int:
        fields = list(RunRow.model_fields)
        sql = (
            f"INSERT OR REPLACE INTO stage_runs ({', '.join(fields)}) "
            f"VALUES ({', '.join('?' for _ in fields)})"
        )
        values = [
            tuple(
                v.isoformat() if isinstance(v, datetime) else v for v in row.model_dump().values()
            )
            for row in rows
        ]
        with self._db() as db:
            db.executemany(sql, values)
        return len(values)

    def runs(self) -> list[RunRow]:
        """Recorded runs, newest first."""
        if not self.path.exists():
            return []
        fields = list(RunRow.model_fields)
        with self._db() as db:
            rows = db.execute(
                f"SELECT {', '.join(fields)} FROM stage_runs ORDER BY recorded_at DESC, id DESC"
            ).fetchall()
        return [RunRow.model_validate(dict(zip(fields, row, strict=True))) for row in rows]


def cold_start(runs: list[RunRow], backend: str) -> tuple[float, int] | None:
    """Median measured cold start of a backend over its recent runs (newest first), and
    how many runs it comes from."""
    seen = [r.cold_start_s for r in runs if r.backend == backend][:RECENT]
    values = [v for v in seen if v is not None]
    return (statistics.median(values), len(values)) if values else None


def fit(
    runs: list[RunRow],
    work_mp: Callable[[int, int], float],
    seed: TimeModel | None,
) -> TimeModel:
    """A time model from measured runs (newest first); see the module docstring."""
    recent = runs[:RECENT]
    points = [(r.frames, work_mp(r.width, r.height), r.wall_s) for r in recent]
    label = f"measured: {len(recent)} of your runs"
    sizes = {round(mp, 6) for _, mp, _ in points}
    if len(sizes) >= 3:
        model = _least_squares(points)
        if model is not None:
            return TimeModel(**model, basis="measured", detail=label, runs=len(recent))
    if seed is not None:
        ratios = [
            wall / predicted
            for frames, mp, wall in points
            if (predicted := seed.seconds(frames, mp)) > 0
        ]
        if ratios:
            factor = statistics.median(ratios)
            return TimeModel(
                setup_s=seed.setup_s * factor,
                s_per_frame=seed.s_per_frame * factor,
                s_per_mp=seed.s_per_mp * factor,
                basis="measured",
                detail=f"{label}, seeded shape x{factor:.2f}",
                runs=len(recent),
            )
    per_mp = statistics.median(wall / (frames * mp) for frames, mp, wall in points)
    return TimeModel(s_per_mp=per_mp, basis="measured", detail=label, runs=len(recent))


def _least_squares(points: list[tuple[int, float, float]]) -> dict[str, float] | None:
    """Non-negative fit of wall = setup + frames * (per_frame + per_mp * mp); terms that
    come out negative are dropped and the rest refitted."""
    import numpy as np

    names = ["setup_s", "s_per_frame", "s_per_mp"]
    columns = {
        "setup_s": np.ones(len(points)),
        "s_per_frame": np.array([f for f, _, _ in points], float),
        "s_per_mp": np.array([f * mp for f, mp, _ in points], float),
    }
    wall = np.array([w for _, _, w in points], float)
    while names:
        design = np.column_stack([columns[n] for n in names])
        coef, *_ = np.linalg.lstsq(design, wall, rcond=None)
        if (coef >= 0).all():
            if "s_per_frame" not in names and "s_per_mp" not in names:
                return None
            return {n: float(c) for n, c in zip(names, coef, strict=True)}
        names = [n for n, c in zip(names, coef, strict=True) if c >= 0]
    return None
