"""The moderation page's blueprint, shared by the modules that add its views."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("ui", __name__, url_prefix="/ui")
