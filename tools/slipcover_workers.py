"""A pytest plugin for the coverage pass (``-p tools.slipcover_workers``): SlipCover's
xdist workers instrument what is imported, but not modules loaded from a file path, which is
how Alembic loads the migration scripts (its controller process wraps that loader; the
workers, which run the tests, do not). This wraps it in each worker too."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    import slipcover
    from slipcover import pytest_plugin

    # Set by SlipCover's plugin when it is collecting in this worker (None otherwise). A
    # SlipCover that no longer has them fails here rather than silently missing the
    # migrations (pyproject.toml pins the versions this was written for).
    instance, matcher = pytest_plugin._slipcover_instance, pytest_plugin._file_matcher
    if instance is not None:
        slipcover.wrap_spec_from_file_location(instance, matcher)
