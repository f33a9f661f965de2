"""The HTTP API: Litestar app factory, route handlers, auth, error mapping."""
