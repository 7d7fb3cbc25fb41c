"""The ``exchange`` console script.

Company-side commands (``keys``, ``sign``, ``push``, ``products``) work without a server;
administration commands (``init-db``, ``org``, ``client``, ``serve``, ``demo``, ``audit``,
``products recompute-stale``) load the app.
"""

from __future__ import annotations

from importlib.metadata import version

import click
from flask.cli import FlaskGroup

from exchange import create_app
from exchange.aggregation.cli import recompute_stale_command
from exchange.client.cli import keys_cli, push_command, sign_command
from exchange.client.label_cli import certificate_cli, label_cli
from exchange.client.product_cli import products_cli
from exchange.demo import demo_command
from exchange.system.cli import init_keys_command, rotate_key_command, serve_command

main = FlaskGroup(
    name="exchange",
    create_app=create_app,
    add_default_commands=False,
    set_debug_flag=False,
    help="Footprint Exchange: signed product carbon footprints.",
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
keys_cli.add_command(init_keys_command)
keys_cli.add_command(rotate_key_command)
# `products recompute-stale` likewise: the chain-owners' group, one operator's command.
products_cli.add_command(recompute_stale_command)
main.add_command(keys_cli)
main.add_command(sign_command)
main.add_command(push_command)
main.add_command(certificate_cli)
main.add_command(label_cli)
main.add_command(products_cli)
# The demo plays the companies' side against a server it starts: not a server command.
main.add_command(demo_command)
# `serve` builds the app itself, once its gunicorn settings are in force (see the command).
main.add_command(serve_command)


if __name__ == "__main__":
    main()
