"""Mutual recognition with foreign partner programmes (see :mod:`.services`)."""
