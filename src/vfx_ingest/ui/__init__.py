"""``vfx-ingest ui``: the local browser dashboard (docs/ui.md).

Reading shots (``roots``, ``shots``, ``proxies``, ``camera_view``) and driving runs
(``runs``) need no web framework; ``app`` puts them behind FastAPI, imported only by the
``ui`` command. The UI writes nothing into a shot's passes: its proxies, thumbnails and run
logs live in ``<shot>/.ui/``, which no stage reads, lists or hashes.
"""
