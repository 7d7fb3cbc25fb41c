"""The exchange's own API described as an OpenAPI 3.1 document, built from the running app."""
