"""One Flask app per test worker, handed to every test that asks for ``app`` and put back as
it was after each.

``create_app`` costs most of its time compiling the ~180 URL rules (werkzeug), about 70 ms of
CPU, which once per test was a minute of every suite run. The routes, hooks and blueprints
of an app are the same for every test; what a test can change is its state, and that is
what :meth:`SharedApp.reset` puts back after each test:

- ``app.config`` and ``app.extensions`` as they were when the app was built (a test that
  sets ``MAX_CONTENT_LENGTH`` or swaps the log sources changes them for itself only);
- the instance folder's files (a test that rotates the exchange key leaves the next test
  the one key it would have had on a fresh app);
- the rate-limit counters and the limiter's leases, and the metrics (from zero again);
- the database is emptied by the fixture, as before.

What cannot be put back cheaply (a route, a hook or an error handler added by the test)
makes the next test build a new app; but Flask refuses such setup once an app has served
a request, so a test that adds routes asks for an app of its own with
``@pytest.mark.fresh_app``.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

from flask import Flask

from exchange import create_app
from exchange.observability import Metrics
from exchange.security.services import DatabaseCounter, Limiter

# Instance files the app keeps open or rewrites as it serves: emptied, not restored.
_SCRATCH_PREFIXES = ("rate-limits.db",)


def build_app(database_url: str, instance: Path) -> Flask:
    """The app as every test has had it: the test database, TESTING, its own instance."""
    return create_app({"DATABASE_URL": database_url, "TESTING": True}, instance_path=str(instance))


def _routing(app: Flask) -> tuple[Any, ...]:
    """What a test cannot undo: routes, views, hooks, handlers, blueprints."""
    return (
        tuple(rule.rule for rule in app.url_map.iter_rules()),
        tuple(app.view_functions),
        tuple(app.blueprints),
        *(
            tuple((key, len(value)) for key, value in registry.items())
            for registry in (
                app.before_request_funcs,
                app.after_request_funcs,
                app.teardown_request_funcs,
                app.url_value_preprocessors,
                app.url_default_functions,
                app.template_context_processors,
            )
        ),
        len(app.teardown_appcontext_funcs),
        _error_handlers(app),
        id(app.session_interface),
    )


def _error_handlers(app: Flask) -> tuple[Any, ...]:
    """The registered error handlers. Flask's ``error_handler_spec`` is a defaultdict that
    grows an empty entry for every status code it has looked up a handler for, so a test
    that merely got a 401 would otherwise look like one that added a handler (and make the
    next test build a new app): only the non-empty entries count."""
    return tuple(
        (scope, code, tuple(handlers.items()))
        for scope, codes in app.error_handler_spec.items()
        for code, handlers in codes.items()
        if handlers
    )


def _files(directory: Path) -> dict[Path, bytes]:
    return {
        path.relative_to(directory): path.read_bytes()
        for path in directory.rglob("*")
        if path.is_file() and not path.name.startswith(_SCRATCH_PREFIXES)
    }


def _directories(directory: Path) -> set[Path]:
    return {path.relative_to(directory) for path in directory.rglob("*") if path.is_dir()}


@dataclasses.dataclass
class SharedApp:
    """An app built once and the state to put back after each test."""

    app: Flask
    instance: Path
    config: dict[str, Any]
    extensions: dict[str, Any]
    files: dict[Path, tuple[bytes, int, int]]  # content, mode, mtime (ns)
    directories: frozenset[Path]
    routing: tuple[Any, ...]

    @classmethod
    def build(cls, database_url: str, instance: Path) -> SharedApp:
        app = build_app(database_url, instance)
        files = {}
        for name, content in _files(instance).items():
            found = (instance / name).stat()
            files[name] = (content, found.st_mode, found.st_mtime_ns)
        directories = frozenset(_directories(instance))
        return cls(
            app,
            instance,
            dict(app.config),
            dict(app.extensions),
            files,
            directories,
            _routing(app),
        )

    def reusable(self) -> bool:
        """False when a test changed what :meth:`reset` cannot put back."""
        return _routing(self.app) == self.routing

    def reset(self) -> None:
        app = self.app
        app.config.clear()
        app.config.update(self.config)
        app.extensions.clear()
        app.extensions.update(self.extensions)
        self._restore_files()
        # Counters and leases start from zero, as on a new app; so do the metrics.
        limiter: Limiter = app.extensions["exchange.limiter"]
        if isinstance(limiter.counter, DatabaseCounter):
            with limiter.counter.engine.begin() as connection:
                connection.execute(limiter.counter.table.delete())
        app.extensions["exchange.limiter"] = Limiter(limiter.counter, clock=limiter.clock)
        app.extensions["exchange.metrics"] = Metrics.create(app.config["METRICS_DIRECTORY"])

    def _restore_files(self) -> None:
        now = _files(self.instance)
        for name in now.keys() - self.files.keys():
            (self.instance / name).unlink()
        for name in sorted(_directories(self.instance) - self.directories, reverse=True):
            if not any((self.instance / name).iterdir()):
                (self.instance / name).rmdir()
        for name, (content, mode, mtime) in self.files.items():
            path = self.instance / name
            if now.get(name) != content or path.stat().st_mtime_ns != mtime:
                # A new file (new inode): the keyring re-reads it at its next use. Its mtime
                # too, which the keyring publishes as the key's notBefore.
                path.parent.mkdir(parents=True, exist_ok=True)
                scratch = path.with_name(path.name + ".restoring")
                scratch.write_bytes(content)
                scratch.chmod(mode & 0o7777)
                os.utime(scratch, ns=(mtime, mtime))
                os.replace(scratch, path)

    def dispose(self) -> None:
        self.app.extensions["exchange.engine"].dispose()
        self.extensions["exchange.engine"].dispose()
