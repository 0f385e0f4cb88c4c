"""Runs: :class:`RunResult`, run folders written atomically, and their provenance."""

__all__: list[str] = []
