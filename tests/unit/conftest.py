"""The served schema and its cost model, built once for the unit tests that price against it."""

from __future__ import annotations

import secrets

import pytest
import strawberry

from cost.model import CostModel
from schema.cost_directives import cost_model_of
from schema.root import create_schema
from settings import Settings


@pytest.fixture(scope="session")
def schema() -> strawberry.Schema:
    return create_schema(Settings(jwt_secret=secrets.token_urlsafe(48)))


@pytest.fixture(scope="session")
def model(schema: strawberry.Schema) -> CostModel:
    return cost_model_of(schema)
