"""``python -m service.migrations ...``: Alembic's command line on the configured database (developers only)."""

from service.migrations import main

main()
