"""Remote execution, backend-agnostic: the worker side (``worker_io``: build a scratch shot
from a job's objects, hand outputs back) and the client side (``client``: upload inputs,
run a stage through a transport, download and verify outputs, fan chunks out)."""
