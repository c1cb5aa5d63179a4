"""Importing pycolmap without losing Python's SIGTERM handler.

pycolmap's glog installs its failure signal handler when the module loads: it answers
SIGTERM (a CI timeout, `kill`, a container stopping) with a native stack dump and exit
143, so Python's own handler (the CLI turns SIGTERM into Ctrl-C) never runs and the stage
record is left `running`. :func:`import_pycolmap` puts Python's handlers back right after
the import; a stop that arrives during the import is held and delivered to them then.
pycolmap's long calls check for Python signals, so a stop during the solve is handled like
Ctrl-C.
"""

from __future__ import annotations

import signal
import threading

SIGNALS = (signal.SIGTERM, signal.SIGINT)


def import_pycolmap() -> None:
    """Import pycolmap (once) keeping Python's SIGTERM and SIGINT handlers. Outside the
    main thread, which alone sets handlers, it is a plain import."""
    import sys

    if "pycolmap" in sys.modules or threading.current_thread() is not threading.main_thread():
        import pycolmap

        return
    handlers = {number: signal.getsignal(number) for number in SIGNALS}
    held: list[int] = []
    for number in SIGNALS:
        signal.signal(number, lambda received, frame: held.append(received))
    # Held in this thread too, so that glog's handler, once installed, cannot get a stop
    # that comes before Python's handlers are back (other threads may still get one).
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, SIGNALS)
    try:
        import pycolmap  # noqa: F401
    finally:
        for number, handler in handlers.items():
            signal.signal(number, signal.SIG_DFL if handler is None else handler)
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)  # a pending stop is delivered now
    if held:
        handler = handlers[held[0]]
        if callable(handler):
            handler(held[0], None)
        else:
            signal.raise_signal(held[0])
