"""Workflows: the protocol framework, parameter sweeps (local or on Dask) and analysis dispatch."""

__all__: list[str] = []
