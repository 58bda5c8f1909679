"""Benchmarks with their own runner; results go to docs/benchmarks.md."""
