"""Benchmark suites: each module exposes ``run(quick) -> list[dict]`` (see common)."""
