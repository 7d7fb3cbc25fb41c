"""PACT v3 host: wire formats of the PACT Technical Specifications."""
