"""``python -m cmpe_lightning`` is the ``cmpe`` command."""

from .cli import main

main()
