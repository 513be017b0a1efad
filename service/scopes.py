"""What an API key may do: its scopes, checked per route by ``service.auth.require_scope``.

- ``moderate``: score comments (``/v1/moderate``, ``comments:analyze``);
- ``feedback``: send moderator decisions and suggested scores, which become training data;
- ``admin``: everything (the other scopes and any administrative route).

Any key, whatever its scopes, reads the model card (``/v1/model``, as docs/api.md says).

A key may hold several. A key created without naming any, and every key made before scopes existed,
holds ``moderate`` and ``feedback``: what every key could do then. (A leaf module, so that the
``moderate keys`` command can offer the choices without importing the service.)
"""

from __future__ import annotations

MODERATE_SCOPE = "moderate"
FEEDBACK_SCOPE = "feedback"
ADMIN_SCOPE = "admin"
SCOPES = (MODERATE_SCOPE, FEEDBACK_SCOPE, ADMIN_SCOPE)
"""Every scope a key can hold; ``admin`` grants the others too."""
DEFAULT_SCOPES = (MODERATE_SCOPE, FEEDBACK_SCOPE)
"""What a key holds when none is named, and what keys made before scopes hold."""
