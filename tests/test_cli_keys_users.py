"""``moderate keys``, ``moderate users`` and ``moderate feedback export`` as an operator runs them (CliRunner)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from service.cli import cli

PASSWORD = "a long enough password"


@pytest.fixture
def runner():
    return CliRunner()


@pytest.fixture
def db_env(tmp_path):
    return {"MODERATION_DB_URL": f"sqlite:///{tmp_path / 'cli.db'}"}


def moderate(runner, db_env, *args, **kwargs):
    return runner.invoke(cli, list(args), env=db_env, **kwargs)


def test_a_piped_password_is_read_once(runner, db_env):
    """`printf '%s\\n' "$PW" | moderate users create ann`: one line, no confirmation (it aborted with exit 1)."""
    made = moderate(runner, db_env, "users", "create", "ann", "--role", "admin", input=f"{PASSWORD}\n")
    assert made.exit_code == 0, made.output
    assert "Created admin ann" in made.stderr
    changed = moderate(runner, db_env, "users", "set-password", "ann", input="another long password\n")
    assert changed.exit_code == 0, changed.output
    assert "New password set for ann" in changed.stderr


def test_a_piped_password_is_the_one_stored(runner, db_env):
    from sqlalchemy.orm import Session

    from service.store import make_engine
    from service.users import authenticate_user

    assert moderate(runner, db_env, "users", "create", "ann", input=f"{PASSWORD}\r\n").exit_code == 0
    engine = make_engine(db_env["MODERATION_DB_URL"])
    try:
        with Session(engine) as session:
            assert authenticate_user(session, "ann", PASSWORD) is not None
    finally:
        engine.dispose()


@pytest.mark.parametrize("command", [["users", "create", "ann"], ["users", "set-password", "ann"]])
def test_empty_standard_input_says_how_to_give_a_password(runner, db_env, command):
    if command[1] == "set-password":
        assert moderate(runner, db_env, "users", "create", "ann", "--password", PASSWORD).exit_code == 0
    result = moderate(runner, db_env, *command, input="")
    assert result.exit_code == 2, result.output
    assert "Error: no password on standard input: pipe one line holding it" in result.stderr


def test_set_password_for_an_unknown_user_asks_for_nothing(runner, db_env):
    assert moderate(runner, db_env, "users", "create", "ann", "--password", PASSWORD).exit_code == 0
    result = moderate(runner, db_env, "users", "set-password", "nobody", input="")
    assert result.exit_code == 2
    assert "Password" not in result.output
    assert "Error: no user called 'nobody'; see `moderate users list`" in result.stderr


def test_deleting_the_last_admin_says_how_to_make_another(runner, db_env):
    for name, role in (("ann", "admin"), ("bob", "admin"), ("cy", "moderator")):
        assert moderate(runner, db_env, "users", "create", name, "--role", role, "--password", PASSWORD).exit_code == 0
    first = moderate(runner, db_env, "users", "delete", "ann")
    assert first.exit_code == 0 and "No admin" not in first.stderr
    last = moderate(runner, db_env, "users", "delete", "bob")
    assert last.exit_code == 0, last.output
    assert "No admin is left" in last.stderr and "`moderate users create NAME --role admin`" in last.stderr


def test_revoking_a_revoked_key_says_it_is_revoked(runner, db_env):
    assert moderate(runner, db_env, "keys", "create", "cms").exit_code == 0
    assert moderate(runner, db_env, "keys", "revoke", "cms").exit_code == 0
    for reference in ("cms", "1", "id:1"):
        again = moderate(runner, db_env, "keys", "revoke", reference)
        assert again.exit_code == 2
        assert f"no active key with id or name '{reference}': key 1 (cms, revoked) is already revoked" in again.stderr
    unknown = moderate(runner, db_env, "keys", "revoke", "nope")
    assert unknown.exit_code == 2 and "already revoked" not in unknown.stderr


def test_feedback_export_keeps_an_existing_file(runner, db_env, tmp_path):
    assert moderate(runner, db_env, "db", "upgrade").exit_code == 0
    output = tmp_path / "precious.csv"
    output.write_text("hand-labelled rows\n", encoding="utf-8")
    result = moderate(runner, db_env, "feedback", "export", "-o", str(output))
    assert result.exit_code == 2, result.output
    assert f"{output} exists already: give another output name, or add --overwrite" in result.stderr
    assert output.read_text(encoding="utf-8") == "hand-labelled rows\n"
    replaced = moderate(runner, db_env, "feedback", "export", "-o", str(output), "--overwrite")
    assert replaced.exit_code == 0, replaced.output
    assert output.read_text(encoding="utf-8").startswith("text,")  # the export's header row


def test_export_feedback_replaces_a_file_only_when_asked(runner, db_env, tmp_path):
    from sqlalchemy.orm import Session

    from service.feedback_export import export_feedback
    from service.store import make_engine

    assert moderate(runner, db_env, "db", "upgrade").exit_code == 0
    output = tmp_path / "out.csv"
    output.write_text("old\n", encoding="utf-8")
    engine = make_engine(db_env["MODERATION_DB_URL"])
    try:
        with Session(engine) as session:
            assert export_feedback(session, output, overwrite=True) == 0
    finally:
        engine.dispose()
    assert output.read_text(encoding="utf-8").startswith("text,comment_id,decision")


# The list commands: lined up for people, tab-separated for scripts; scopes shown one way.

def assert_lined_up(table: str, tsv: str) -> None:
    """``table`` holds the cells of ``tsv``, each column starting at the same offset on every line, two spaces apart."""
    cells = [line.split("\t") for line in tsv.splitlines()]
    lines = table.splitlines()
    assert len(lines) == len(cells) > 1
    widths = [max(len(row[column]) for row in cells) for column in range(len(cells[0]))]
    for line, row in zip(lines, cells):
        offset = 0
        for cell, width in zip(row, widths):
            assert line[offset:offset + width].rstrip() == cell, (line, cell)
            assert line[offset + width:offset + width + 2].strip() == ""  # the gap before the next column
            offset += width + 2
        assert line == line.rstrip()


def make_keys_and_users(runner, db_env) -> None:
    """Names and scopes of different lengths, as a newsroom has them."""
    for args in (["cms", "--scope", "moderate"], ["newsroom-comments-prod", "--scope", "feedback", "--scope", "admin"], ["x"]):
        assert moderate(runner, db_env, "keys", "create", *args).exit_code == 0
    assert moderate(runner, db_env, "keys", "revoke", "x").exit_code == 0
    for name, role in (("ann", "moderator"), ("administrator-lee", "admin")):
        assert moderate(runner, db_env, "users", "create", name, "--role", role, "--password", PASSWORD).exit_code == 0


@pytest.mark.parametrize("command", [["keys", "list"], ["users", "list"]])
def test_list_commands_line_up_their_columns_as_a_table(runner, db_env, command):
    make_keys_and_users(runner, db_env)
    table = moderate(runner, db_env, *command, "--format", "table")
    assert table.exit_code == 0, table.output
    tsv = moderate(runner, db_env, *command, "--format", "tsv")
    assert tsv.exit_code == 0, tsv.output
    assert tsv.stdout == moderate(runner, db_env, *command).stdout  # piped (CliRunner is no terminal): tab-separated
    assert_lined_up(table.stdout, tsv.stdout)
    assert "\t" not in table.stdout


def test_keys_list_fields_are_the_bare_values_when_piped(runner, db_env):
    make_keys_and_users(runner, db_env)
    header, *rows = moderate(runner, db_env, "keys", "list").stdout.splitlines()
    assert header.split("\t") == ["id", "name", "prefix", "created", "scopes", "revoked"]
    assert [(row.split("\t")[1], row.split("\t")[4]) for row in rows] == [
        ("cms", "moderate"), ("newsroom-comments-prod", "feedback,admin"), ("x", "moderate,feedback")]


def test_a_terminal_gets_the_table(monkeypatch):
    import io
    import sys

    from service.cli.common import default_table_format

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr(sys, "stdout", Terminal())
    assert default_table_format() == "table"
    monkeypatch.setattr(sys, "stdout", io.StringIO())
    assert default_table_format() == "tsv"


def test_keys_create_shows_scopes_as_keys_list_does(runner, db_env):
    created = moderate(runner, db_env, "keys", "create", "desk", "--scope", "feedback", "--scope", "admin")
    assert created.exit_code == 0, created.output
    assert "(desk, scopes: feedback,admin)" in created.stderr
    assert moderate(runner, db_env, "keys", "list").stdout.splitlines()[1].split("\t")[4] == "feedback,admin"


def test_a_table_lines_up_names_in_wide_characters_as_a_terminal_shows_them(capsys):
    """A key named in Chinese took two columns a character on the terminal but was padded as one: the columns after it
    slid right on its line."""
    from service.cli.common import display_width, echo_table

    echo_table(["name", "scopes"], [["新闻评论", "moderate"], ["cms", "feedback"], ["café", "admin"]], "table")
    lines = capsys.readouterr().out.splitlines()
    starts = {display_width(line[:line.index(scope)]) for line, scope in zip(lines, ("scopes", "moderate", "feedback", "admin"))}
    assert starts == {len("新闻评论") * 2 + 2}


def _locked_out_app(tiny_bundle_path, storage_uri: str = "memory://"):
    """The service with users ``mo`` and ``ann``, 3 sign-ins an hour per name, and both names locked out by guesses
    from many addresses (the right password is refused: 429)."""
    from service.app import create_app
    from tests.test_security_signin import _sign_in_from
    from tests.ui_support import PASSWORD as RIGHT, add_user

    app = create_app({"TESTING": True, "MODEL": str(tiny_bundle_path), "DB_URL": "sqlite://",
                      "SIGN_IN_NAME_LIMIT": "3 per hour", "RATELIMIT_STORAGE_URI": storage_uri})
    add_user(app, "mo")
    add_user(app, "ann")
    for name in ("mo", "ann"):
        guesses = [_sign_in_from(app, f"198.51.100.{n + 1}", name, f"guess {n}").status_code for n in range(4)]
        assert guesses == [401, 401, 401, 429]
        assert _sign_in_from(app, "203.0.113.9", name, RIGHT).status_code == 429
    return app


def test_users_unlock_clears_the_name_limit_where_the_service_counts_it(runner, tiny_bundle_path, monkeypatch):
    """A locked-out editor had to wait for the hour to end: no command cleared SIGN_IN_NAME_LIMIT's count."""
    from service import budgets
    from tests.test_security_signin import _sign_in_from
    from tests.ui_support import PASSWORD as RIGHT

    app = _locked_out_app(tiny_bundle_path)
    opened = []

    def shared_storage(uri, **options):  # the command opens the shared storage the servers count in: here, the app's
        opened.append((uri, options))
        return app.extensions[budgets.BUDGETS_KEY].storage

    monkeypatch.setattr(budgets, "storage_from_string", shared_storage)
    env = {"MODERATION_RATELIMIT_STORAGE_URI": "redis://127.0.0.1:1/0", "MODERATION_SIGN_IN_NAME_LIMIT": "3 per hour"}
    result = runner.invoke(cli, ["users", "unlock", " mo "], env=env)
    assert result.exit_code == 0, result.output
    # 3 guesses, 1 more refused and the right password refused
    assert "Unlocked mo: 5 sign-ins counted against SIGN_IN_NAME_LIMIT (3 per hour) were cleared" in result.stderr
    assert [uri for uri, _ in opened] == ["redis://127.0.0.1:1/0"] and "socket_timeout" in opened[0][1]
    assert _sign_in_from(app, "203.0.113.10", "mo", RIGHT).status_code == 302
    assert _sign_in_from(app, "203.0.113.11", "ann", RIGHT).status_code == 429  # only the name given
    again = runner.invoke(cli, ["users", "unlock", "nobody"], env=env)
    assert again.exit_code == 0 and "No sign-ins as nobody were counted" in again.stderr


def test_users_unlock_with_counts_in_each_worker_says_it_cannot_reach_them(runner):
    result = runner.invoke(cli, ["users", "unlock", "mo"], env={"MODERATION_RATELIMIT_STORAGE_URI": "memory://"})
    assert result.exit_code == 2
    assert "RATELIMIT_STORAGE_URI is memory://: each server worker counts sign-ins in its own memory" in result.stderr
    assert "nothing was cleared" in result.stderr and "kill -HUP" in result.stderr


def test_users_unlock_says_when_the_limit_storage_cannot_be_reached(runner):
    result = runner.invoke(cli, ["users", "unlock", "mo"], env={"MODERATION_RATELIMIT_STORAGE_URI": "redis://127.0.0.1:1/0"})
    assert result.exit_code == 1
    assert "the limit storage (RATELIMIT_STORAGE_URI) cannot be reached" in result.stderr and "nothing was cleared" in result.stderr
    assert "Traceback" not in result.output


def test_users_unlock_clears_a_real_redis(runner, tiny_bundle_path):
    """As above on the Redis several instances share (skipped without ``MODERATION_TEST_REDIS_URL``)."""
    from redis import Redis

    from tests.conftest import REDIS_URL_ENV, redis_test_url
    from tests.test_security_signin import _sign_in_from
    from tests.ui_support import PASSWORD as RIGHT

    url = redis_test_url()
    if not url:
        pytest.skip(f"{REDIS_URL_ENV} is unset: .ci/run starts Redis")
    Redis.from_url(url).flushdb()
    app = _locked_out_app(tiny_bundle_path, url)
    env = {"MODERATION_RATELIMIT_STORAGE_URI": url, "MODERATION_SIGN_IN_NAME_LIMIT": "3 per hour"}
    result = runner.invoke(cli, ["users", "unlock", "mo"], env=env)
    assert result.exit_code == 0, result.output
    assert _sign_in_from(app, "203.0.113.10", "mo", RIGHT).status_code == 302
    assert _sign_in_from(app, "203.0.113.11", "ann", RIGHT).status_code == 429


def test_db_upgrade_refuses_another_applications_sqlite_file(runner, tmp_path):
    """A mistyped MODERATION_DB_URL naming another application's SQLite file: `db upgrade` wrote the service's tables
    into it (and so did the server's start). It is refused, nothing changed; a new, empty file is made a database."""
    import sqlite3

    foreign = tmp_path / "crm.db"
    with sqlite3.connect(foreign) as connection:
        connection.execute("CREATE TABLE customers (name TEXT)")
    result = moderate(runner, {"MODERATION_DB_URL": f"sqlite:///{foreign}"}, "db", "upgrade")
    assert result.exit_code == 2, result.output
    assert "holds tables of something else (customers) and none of the service's" in result.output
    with sqlite3.connect(foreign) as connection:
        assert [name for (name,) in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")] == ["customers"]
    assert moderate(runner, {"MODERATION_DB_URL": f"sqlite:///{tmp_path / 'new.db'}"}, "db", "upgrade").exit_code == 0
