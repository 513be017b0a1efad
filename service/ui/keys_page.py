"""The API keys page (admins): list, create (the secret is shown once) and revoke the keys machines use."""

from __future__ import annotations

import logging

from flask import abort, current_app, flash, g, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from service.auth import (ID_SELECTOR, BadKeyName, UnknownKey, UnknownScope, check_new_key_name, check_scopes, create_key,
                          list_keys, parse_scopes, revoke_key)
from service.budgets import client_address
from service.errors import shown_name
from service.scopes import DEFAULT_SCOPES, SCOPES
from service.store import KEY_NAME_CHARS, ApiKey, get_session
from service.ui.blueprint import bp
from service.ui.signin import signed_in

log = logging.getLogger(__name__)


def _scope_names(stored: str) -> str:
    """A key row's scopes for the page, in ``SCOPES`` order: "moderate, feedback"."""
    held = parse_scopes(stored)
    return ", ".join(scope for scope in SCOPES if scope in held)


def _page(session, **shown) -> str:
    """The keys page: every key with its scopes, the form (``name`` and ``scopes`` as typed, else the defaults).

    An ``error`` names its ``error_field`` ("name" or "scope"), which the page ties the message to for screen readers.
    """
    shown.setdefault("scopes", DEFAULT_SCOPES)
    return render_template("ui/keys.html", keys=list_keys(session), max_name=KEY_NAME_CHARS, all_scopes=SCOPES,
                           scopes_of=_scope_names, key_cache_seconds=f"{current_app.config['KEY_CACHE_SECONDS']:g}",
                           **{"secret": None, "confirm_revoke": None, **shown})


@bp.get("/keys")
@signed_in(admin=True)
def keys() -> ResponseReturnValue:
    """Every key, revoked ones included."""
    return _page(get_session())


@bp.post("/keys")
@signed_in(admin=True)
def create() -> ResponseReturnValue:
    """Create a key holding the ticked scopes and show its secret on this answer only (it is never stored)."""
    name, scopes = request.form.get("name", "").strip(), request.form.getlist("scope")
    session = get_session()
    try:
        check_new_key_name(session, name)  # the command line's rules: no all-digit name, no name an active key has
        held = check_scopes(scopes)
    except BadKeyName as error:
        message = f"A key's name (the site or program that uses it) {error}."
        return _page(session, error=message, error_field="name", name=name, scopes=scopes), 400
    except UnknownScope as error:
        return _page(session, error=f"Tick what the key may do: {error}.", error_field="scope", name=name, scopes=scopes), 400
    row, secret = create_key(session, name, held)
    log.info("API key %d (%s, scopes %s) created on the moderation page by %s from %s", row.id, shown_name(row.name),
             " ".join(held), shown_name(g.user.name), client_address())
    return _page(session, secret=secret, created=row)


@bp.post("/keys/<int:key_id>/revoke")
@signed_in(admin=True)
def revoke(key_id: int) -> ResponseReturnValue:
    """Revoke one key once the admin confirms (the form's ``confirm``; without it, the page asks: one click cut a site
    off for good); this worker refuses it at once, the other workers and instances within KEY_CACHE_SECONDS (at once
    when they share the key cache in Redis)."""
    session = get_session()
    if request.form.get("confirm") != "yes":
        asked = session.get(ApiKey, key_id)
        if asked is None or asked.revoked_at is not None:
            abort(404, description="There is no active key with that id.")
        return _page(session, confirm_revoke=asked)
    try:
        (row,) = revoke_key(session, f"{ID_SELECTOR}{key_id}")  # by id only, whatever the keys are called
    except UnknownKey:
        abort(404, description="There is no active key with that id.")
    log.info("API key %d (%s) revoked on the moderation page by %s from %s", row.id, shown_name(row.name),
             shown_name(g.user.name), client_address())
    flash(f"Revoked key {row.id} ({row.name}): every worker refuses it within {current_app.config['KEY_CACHE_SECONDS']:g} s"
          " (KEY_CACHE_SECONDS).")
    return redirect(url_for("ui.keys"), code=303)
