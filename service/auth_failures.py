"""Failed authentication limited per client address, so that made-up keys cannot be tried without end.

Every request whose key is unknown or revoked spends one of ``AUTH_FAILURE_LIMIT`` (e.g. 30 per minute)
for its client address (for IPv6, its /64 network: ``service.budgets.limited_address``). Once it is spent, a
request from that address whose key the key cache does not already hold as active gets 429 before any database
look-up; a known good key (cached) still works, so a client behind the same address as an attacker keeps being
served while its key is cached.
"""

from __future__ import annotations

from service.budgets import first_spent, limited_address, spend, too_many

SETTING = "AUTH_FAILURE_LIMIT"
LIMIT_NAME = "auth_failures"


def refuse_if_failing() -> None:
    """Raise the 429 when the client's address has used up its failed authentications for this window."""
    address = limited_address()
    spent = first_spent(SETTING, address)
    if spent is not None:
        raise too_many(
            LIMIT_NAME,
            f"too many requests with an unknown or revoked API key from this address ({spent}); "
            "retry after the Retry-After header's seconds with a valid key",
            item=spent,
            setting=SETTING,
            identity=address,
        )


def note_failure() -> None:
    """Count one failed authentication against the client's address."""
    spend(SETTING, limited_address())
