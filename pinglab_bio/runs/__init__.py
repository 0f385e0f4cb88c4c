"""Runs: :class:`RunResult`, run folders written atomically, and their provenance."""
