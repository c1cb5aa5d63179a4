"""Retries with exponential backoff and jitter (tenacity), for HTTP calls to clouds."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from . import redact

log = logging.getLogger(__name__)


# The longest a server's Retry-After is honoured: past that, fail and let the user rerun.
MAX_RETRY_AFTER_S = 60.0


def retry_after(value: str | None) -> float | None:
    """A Retry-After header in seconds (it holds seconds or an HTTP date), None if absent."""
    from datetime import UTC, datetime
    from email.utils import parsedate_to_datetime

    value = (value or "").strip()
    if value.isdigit():
        return float(value)
    try:
        return max((parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds(), 0.0)
    except (TypeError, ValueError):
        return None


def attempts(transient: Callable[[BaseException], bool], tries: int = 5):
    """``for attempt in attempts(...): with attempt: ...`` retries what ``transient``
    accepts, waiting about 0.5, 1, 2, 4, 8 s (plus jitter), or longer when the error
    carries the server's ``retry_after`` (seconds, from a 429's or 503's Retry-After);
    the last error is raised."""
    from tenacity import (
        Retrying,
        retry_if_exception,
        stop_after_attempt,
        wait_exponential,
        wait_random,
    )

    backoff = wait_exponential(multiplier=0.5, max=8) + wait_random(0, 0.5)

    def wait(state: Any) -> float:
        asked = getattr(state.outcome.exception(), "retry_after", None)
        return max(backoff(state), min(asked or 0.0, MAX_RETRY_AFTER_S))

    return Retrying(
        retry=retry_if_exception(transient),
        wait=wait,
        stop=stop_after_attempt(tries),
        reraise=True,
        before_sleep=lambda state: log.info(
            "retrying after %s", redact.text(repr(state.outcome.exception()))
        ),
    )
