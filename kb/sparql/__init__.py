"""Queries: reading a query as the engine does (reading), running it (query), writing results
under caps (results) in the registered formats (formats); the example queries (examples)."""
