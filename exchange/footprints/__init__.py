"""Signed product footprint records: submission, lifecycle, reading, sharing, and the record
of every transfer to others (:mod:`exchange.footprints.flows`)."""
