"""The ``pinglab-bio`` command line: argument parsing and printing over the packages below."""

from .app import main

__all__ = ["main"]
