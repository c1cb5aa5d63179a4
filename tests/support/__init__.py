"""Test-only material shared by tests, benchmarks and examples (never in the wheel)."""
