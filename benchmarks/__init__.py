"""Benchmarks: run on purpose (``python -m benchmarks.<name>``), never as tests."""
