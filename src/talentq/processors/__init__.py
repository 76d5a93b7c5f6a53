"""One module per queue, named after it (``gmail-ingest`` -> ``gmail_ingest.py``).

Each has the same shape: a docstring saying what it reads and writes and whether a
re-run is safe, one ``async def handle(ctx, payload)``, private helpers below. The
registry imports and binds them explicitly; nothing here registers itself.
"""
