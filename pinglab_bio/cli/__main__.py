"""``python -m pinglab_bio.cli``: the same as the ``pinglab-bio`` command."""

from . import main

__all__: list[str] = []

raise SystemExit(main())
