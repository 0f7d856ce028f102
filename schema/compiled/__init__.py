"""Compiled execution of queries: a plan built once per document fills the response straight
from resolved objects, skipping graphql-core's per-field machinery; anything the plan does not
cover, and any operation that meets an error, runs on graphql-core's executor instead."""
