"""The running cost of one run, and the stop when it passes ``--max-cost``.

The pipeline makes one :class:`CostMeter` per run and hands it to the backend with the
run's cancel event. The meter knows nothing of any provider; backends feed it.

Contract for backends (``Backend.run(job, on_event, cancel, meter=...)``):

1. As soon as the backend knows what it pays for (GPU type, offer), it calls
   ``meter.set_rate(usd_per_second, price_id=...)`` with the full billed rate (GPU plus any
   CPU and memory), from ``vfx_ingest.cost`` prices or the provider's own quote.
2. While remote work is billed, it calls ``meter.tick(seconds)`` with the billed seconds
   since its previous tick, typically from its poll or event loop: every few seconds, and
   once more when the work ends. Cold start and idle time count: they are billed.
3. One-off charges (storage, transfer) go through ``meter.charge(usd, what)``.
4. When the spend passes the limit the meter sets the run's cancel event itself. The
   backend then stops remote work exactly as for Ctrl-C (cancel the remote job, terminate
   the pod) and returns or raises as it does for a cancel; the pipeline reports the stop.

The local backend ticks at rate 0: its work costs nothing, so a limit never stops it.
"""

from __future__ import annotations

import threading


class CostMeter:
    def __init__(self, limit_usd: float | None, cancel: threading.Event) -> None:
        self.limit_usd = limit_usd
        self.cancel = cancel
        self.usd_per_second = 0.0
        self.price_id: str | None = None
        self.billed_s = 0.0
        self._spent = 0.0
        self._exceeded = False
        self._lock = threading.Lock()

    def set_rate(self, usd_per_second: float, price_id: str | None = None) -> None:
        if usd_per_second < 0:
            raise ValueError("a rate cannot be negative")
        with self._lock:
            self.usd_per_second = usd_per_second
            self.price_id = price_id

    def tick(self, seconds: float) -> None:
        """Add ``seconds`` of billed time at the current rate."""
        if seconds < 0:
            raise ValueError("billed time cannot go backwards")
        with self._lock:
            self.billed_s += seconds
            self._add(seconds * self.usd_per_second)

    def charge(self, usd: float, what: str = "") -> None:
        """Add a one-off charge (``what`` is for the reader of the code calling it)."""
        if usd < 0:
            raise ValueError(f"a charge cannot be negative ({what})")
        with self._lock:
            self._add(usd)

    def _add(self, usd: float) -> None:
        self._spent += usd
        if self.limit_usd is not None and self._spent > self.limit_usd and not self._exceeded:
            self._exceeded = True
            self.cancel.set()

    @property
    def spent_usd(self) -> float:
        with self._lock:
            return self._spent

    @property
    def exceeded(self) -> bool:
        with self._lock:
            return self._exceeded
