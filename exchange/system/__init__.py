"""Running the exchange: health, published keys, database migrations and the server."""
