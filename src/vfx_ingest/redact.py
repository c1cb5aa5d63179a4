"""Keep secrets out of logs, terminals and manifests.

Presigned URLs are capabilities: whoever reads one can fetch or overwrite the object until
it expires, so their query strings (signature, credential scope) are cut from every text we
emit, as is user info in a URL (``user:password@``). Known secret values (API keys, storage
keys) are masked wherever they appear. ``install()`` applies this to every log record of
the process, whichever library made it.
"""

from __future__ import annotations

import io
import logging
import re
import threading
from typing import Any, TextIO

# A URL's query string: everything after '?' up to whitespace or a quote.
_URL_QUERY = re.compile(r"(https?://[^\s'\"?#<>]+)\?[^\s'\"<>]*")
# User info in a URL (``https://user:password@host``).
_URL_USERINFO = re.compile(r"(https?://)[^\s/@'\"<>]+@")
_BEARER = re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+")
MASK = "***"

_secrets: set[str] = set()
_lock = threading.Lock()
_installed = False


def register_secret(value: str | None) -> None:
    """Mask ``value`` wherever it appears from now on (short values are ignored: masking
    every 'a' would make logs unreadable and protects nothing)."""
    if value and len(value) >= 6:
        with _lock:
            _secrets.add(value)


def text(value: str) -> str:
    """``value`` with URL query strings and user info, bearer tokens and known secrets
    masked."""
    value = _URL_QUERY.sub(rf"\1?{MASK}", value)
    value = _URL_USERINFO.sub(rf"\1{MASK}@", value)
    value = _BEARER.sub(rf"\1{MASK}", value)
    with _lock:
        secrets = sorted(_secrets, key=len, reverse=True)
    for secret in secrets:
        value = value.replace(secret, MASK)
    return value


def install() -> None:
    """Redact every log record created in this process from now on (idempotent)."""
    global _installed
    with _lock:
        if _installed:
            return
        _installed = True
    factory = logging.getLogRecordFactory()

    def make(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = factory(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: leave it for logging to report
            return record
        record.msg, record.args = text(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = text(logging.Formatter().formatException(record.exc_info))
        return record

    logging.setLogRecordFactory(make)
    # botocore logs each signature it computes, before we ever see the URL it goes into.
    logging.getLogger("botocore.auth").setLevel(logging.WARNING)


class RedactingStream(io.TextIOBase):
    """A text stream that masks what it writes (for libraries that print, not log)."""

    def __init__(self, inner: TextIO) -> None:
        self.inner = inner

    def write(self, s: str) -> int:
        self.inner.write(text(s))
        return len(s)

    def flush(self) -> None:
        self.inner.flush()

    def isatty(self) -> bool:
        return self.inner.isatty()

    def fileno(self) -> int:
        return self.inner.fileno()
