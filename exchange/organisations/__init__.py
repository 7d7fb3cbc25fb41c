"""Organisations, roles, signing keys, API clients and tokens."""
