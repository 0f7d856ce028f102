"""GraphiQL served entirely by this server: the page, our fetcher, and pinned npm files.

The third-party files are never committed: `python -m graphiql.assets fetch` (run by `make run`
and `make test`) downloads them from the npm registry at install time, checked against the
sha512 integrity pinned in `assets.lock.json`.
"""
