"""Workflows: deterministic orchestration, no I/O."""
