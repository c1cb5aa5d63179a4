"""Retries with exponential backoff and jitter (tenacity), for HTTP calls to clouds."""

from __future__ import annotations

import logging
from collections.abc import Callable

from . import redact

log = logging.getLogger(__name__)


def attempts(transient: Callable[[BaseException], bool], tries: int = 5):
    """``for attempt in attempts(...): with attempt: ...`` retries what ``transient``
    accepts, waiting about 0.5, 1, 2, 4, 8 s (plus jitter); the last error is raised."""
    from tenacity import (
        Retrying,
        retry_if_exception,
        stop_after_attempt,
        wait_exponential,
        wait_random,
    )

    return Retrying(
        retry=retry_if_exception(transient),
        wait=wait_exponential(multiplier=0.5, max=8) + wait_random(0, 0.5),
        stop=stop_after_attempt(tries),
        reraise=True,
        before_sleep=lambda state: log.info(
            "retrying after %s", redact.text(repr(state.outcome.exception()))
        ),
    )
