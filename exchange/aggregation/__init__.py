"""Chain-owner aggregation: product footprints computed from signed supplier data."""
