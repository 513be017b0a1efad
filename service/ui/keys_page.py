"""The API keys page (admins): list, create (the secret is shown once) and revoke the keys machines use."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from service.auth import ID_SELECTOR, BadKeyName, UnknownKey, check_new_key_name, create_key, list_keys, revoke_key
from service.store import KEY_NAME_CHARS, get_session
from service.ui.blueprint import bp
from service.ui.signin import signed_in


@bp.get("/keys")
@signed_in(admin=True)
def keys() -> ResponseReturnValue:
    """Every key, revoked ones included."""
    return render_template("ui/keys.html", keys=list_keys(get_session()), secret=None, max_name=KEY_NAME_CHARS)


@bp.post("/keys")
@signed_in(admin=True)
def create() -> ResponseReturnValue:
    """Create a key and show its secret on this answer only (it is never stored)."""
    name = request.form.get("name", "").strip()
    session = get_session()
    try:
        check_new_key_name(session, name)  # the command line's rules: no all-digit name, no name an active key has
    except BadKeyName as error:
        message = f"A key's name (the site or program that uses it) {error}."
        return render_template("ui/keys.html", keys=list_keys(session), secret=None, max_name=KEY_NAME_CHARS, error=message, name=name), 400
    row, secret = create_key(session, name)
    return render_template("ui/keys.html", keys=list_keys(session), secret=secret, created=row, max_name=KEY_NAME_CHARS)


@bp.post("/keys/<int:key_id>/revoke")
@signed_in(admin=True)
def revoke(key_id: int) -> ResponseReturnValue:
    """Revoke one key; this server refuses it at once, others within KEY_CACHE_SECONDS."""
    try:
        (row,) = revoke_key(get_session(), f"{ID_SELECTOR}{key_id}")  # by id only, whatever the keys are called
    except UnknownKey:
        abort(404, description="There is no active key with that id.")
    flash(f"Revoked key {row.id} ({row.name}).")
    return redirect(url_for("ui.keys"), code=303)
