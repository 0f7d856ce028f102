"""Query cost: pricing a document before it runs and after (pure functions over the AST and
the schema), and the per-caller budget it is charged against (GCRA in Redis)."""
