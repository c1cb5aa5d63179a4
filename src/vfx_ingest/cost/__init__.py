"""Cost: what a run will cost before it starts, and what it did cost after.

- ``catalog.toml`` / catalog.py: dated, sourced prices; live prices (refresh.py);
- ``throughput.toml`` / throughput.py: seeded stage timings and the time model;
- history.py: your own runs, which calibrate the estimates;
- estimate.py: per stage x backend x GPU estimates; budget.py: ``run --max-cost``;
- meter.py: the running cost that stops remote work at the limit;
- actuals.py: each stage record's cost from the price used; breakeven.py: pod vs serverless.
"""
