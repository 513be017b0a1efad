"""The ``moderate`` command: score tables or one text, train, evaluate, serve; manage keys, users, database, feedback.

One module per command group (``score``, ``training``, ``serve``, ``keys``, ``users``, ``database``, ``models``), all
sharing ``common``. Heavy modules (pandas, scikit-learn, gunicorn) are imported inside the commands so
that ``moderate --help`` answers at once.
"""

from __future__ import annotations

import click

from service.cli.database import db, feedback
from service.cli.keys import keys
from service.cli.models import compare_command, models
from service.cli.score import score
from service.cli.serve import serve
from service.cli.training import eval_command, train
from service.cli.users import users

@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="comment-moderation", prog_name="moderate")
def cli() -> None:
    """Self-hosted comment moderation: scores, reasons and a decision for every comment."""


for command in (score, train, eval_command, serve, keys, db, feedback, models, compare_command, users):
    cli.add_command(command)


def main() -> None:
    """Console-script entry point for ``moderate``."""
    cli(prog_name="moderate")
