"""Demo data: `generate` makes it (pure, deterministic), `documents` shapes it as stored,
`load` bulk-inserts it, `command` is `python server.py seed`."""
