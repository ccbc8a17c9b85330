"""``python -m cmpe_lightning`` is the ``cmpe`` command."""

from .cli_entry import main

main()
