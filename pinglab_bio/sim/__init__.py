"""Simulation: the only Brian2 builder, the devices, portable random numbers and run sessions."""

__all__: list[str] = []
