"""`vfx-ingest ...` with the tests' stages registered: how tests start a remote worker as
its own process (``python tests/worker_main.py worker serve ...``), as an image whose
package holds those stages would."""

from __future__ import annotations

import sys

from vfx_ingest.cli import main

from modal_stages import register

if __name__ == "__main__":
    register()
    sys.argv = ["vfx-ingest", *sys.argv[1:]]
    main()
