"""The RunPod pod backend (``--backend runpod-pod``): one on-demand pod per run.

- ``control``: pods and network volumes through REST API v2;
- ``ledger``: this machine's record of the pods its runs created (user data folder);
- ``backend``: the client side of a run: create, wait, run the stages through the shared
  remote runner, terminate and confirm;
- ``watchdog``: the supervisor inside the pod (standard library only) that terminates
  its own pod when the client goes quiet, it idles, its deadline passes or the server dies;
- ``server``: the worker's HTTP server inside the pod (the serverless job API, behind a
  per-pod bearer token), reporting its activity to the watchdog;
- ``commands``: ``pods list|gc`` (the ``resources`` and ``cleanup`` hooks), ``worker pod``.
"""
