"""The real-server fixture of the end-to-end tests, for the schemathesis run."""

from tests.e2e.conftest import live_server, module_live_server

__all__ = ["live_server", "module_live_server"]
