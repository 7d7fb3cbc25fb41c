"""gunicorn settings for ``gunicorn wsgi:app`` (``exchange serve`` uses the same module)."""

from exchange.system.gunicorn_settings import *  # noqa: F403
