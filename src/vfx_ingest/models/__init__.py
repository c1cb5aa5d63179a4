"""Model weights: the registry (data), where files live, downloads with checksums, the lock.

``registry`` (which models exist), ``sources`` (where from), ``store`` (where they are here
and whether they are intact), ``sync`` (downloads), ``pin`` and ``lock`` (models.lock),
``runtime`` (what the planner and the worker call). Nothing here imports torch.
"""
