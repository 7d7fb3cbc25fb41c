"""``exchange serve``: gunicorn in the command's own process, serving the app it built.

The command builds the app once, migrates and checks the node with it, and hands that same
app to gunicorn, whose workers are forked from it (``preload_app``). Before, the command
re-executed itself as a gunicorn master and every worker imported the exchange and built its
own app again: about 1.5 s of CPU a worker and a second copy of the app's memory in each, for
the same object.
"""

from __future__ import annotations

from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication

from exchange.system import gunicorn_settings


class ExchangeServer(BaseApplication):  # type: ignore[misc]  # gunicorn ships no types
    """gunicorn with the settings of :mod:`exchange.system.gunicorn_settings` (the module
    ``gunicorn.conf.py`` reads too), ``options`` over them, serving ``app``."""

    def __init__(self, app: Flask, options: dict[str, Any]) -> None:
        self.application = app
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        # As gunicorn reads a ``--config`` module: each name that is one of its settings.
        settings = {
            name: value
            for name, value in vars(gunicorn_settings).items()
            if name in self.cfg.settings and value is not None
        }
        for name, value in {**settings, **self.options}.items():
            self.cfg.set(name, value)

    def load(self) -> Flask:
        return self.application
