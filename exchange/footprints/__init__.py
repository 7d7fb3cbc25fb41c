"""Signed product footprint records: submission, lifecycle, reading and sharing."""
