"""``python -m service.cli``: the ``moderate`` command."""

from service.cli import main

main()
