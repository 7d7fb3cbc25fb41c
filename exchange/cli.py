"""The ``exchange`` console script.

Company-side commands (``keys``, ``sign``, ``push``, ``products``) work without a server;
administration commands (``init-db``, ``org``, ``client``, ``serve``, ``demo``, ``audit``,
``products recompute-stale``) load the app.

The commands that need the server's code are imported only when they are run (or their help
is shown): a company's ``exchange sign`` then starts in a fifth of the time, without
importing the database layer, the migrations and every area of the exchange.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from importlib.metadata import version
from typing import Any

import click
from flask.cli import FlaskGroup

from exchange import create_app
from exchange.client.cli import keys_cli, push_command, sign_command
from exchange.client.label_cli import certificate_cli, label_cli
from exchange.client.product_cli import products_cli


class _DeferringGroup(click.Group):
    """A group whose ``deferred`` commands (``name: "module:attribute"``) are imported only
    when one of them is asked for."""

    def __init__(self, *args: Any, deferred: Mapping[str, str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.deferred = dict(deferred)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.deferred})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = self.deferred.get(cmd_name)
        if target is None:
            return super().get_command(ctx, cmd_name)
        module, _, attribute = target.partition(":")
        command: click.Command = getattr(importlib.import_module(module), attribute)
        return command


class _Main(_DeferringGroup, FlaskGroup):
    """Flask's group (the app's own commands, found by building the app) with deferred ones."""


def _joined(group: click.Group, deferred: Mapping[str, str]) -> _DeferringGroup:
    """``group`` (a company-side group of exchange.client) with operators' commands added."""
    return _DeferringGroup(
        name=group.name,
        commands=group.commands,
        help=group.help,
        short_help=group.short_help,
        deferred=deferred,
    )


main = _Main(
    name="exchange",
    create_app=create_app,
    add_default_commands=False,
    set_debug_flag=False,
    help="Footprint Exchange: signed product carbon footprints.",
    deferred={
        # The demo plays the companies' side against a server it starts: not a server command.
        "demo": "exchange.demo:demo_command",
        # `serve` builds the app itself, once its gunicorn settings are in force.
        "serve": "exchange.system.cli:serve_command",
    },
)
# Flask's own options (--app, --env-file, --debug and its --version) describe Flask's
# loader, not this program: the app is always create_app(), configured by EXCHANGE_*.
main.params = [
    param for param in main.params if param.name not in {"app", "env_file", "debug", "version"}
]
click.version_option(
    version("footprint-exchange"), "--version", prog_name="exchange", message="%(prog)s %(version)s"
)(main)
# `exchange keys` is the companies' group; `keys init` and `keys rotate` are the operators'
# (they load the app).
main.add_command(
    _joined(
        keys_cli,
        {
            "init": "exchange.system.cli:init_keys_command",
            "rotate": "exchange.system.cli:rotate_key_command",
        },
    )
)
# `products recompute-stale` likewise: the chain-owners' group, one operator's command.
main.add_command(
    _joined(products_cli, {"recompute-stale": "exchange.aggregation.cli:recompute_stale_command"})
)
main.add_command(sign_command)
main.add_command(push_command)
main.add_command(certificate_cli)
main.add_command(label_cli)


if __name__ == "__main__":
    main()
