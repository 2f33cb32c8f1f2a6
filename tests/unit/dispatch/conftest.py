"""Shared, session-scoped domain fixtures for the dispatch unit tests (all in memory)."""

from __future__ import annotations

import pytest

from services.dispatch.domain.classifier import RequestClassifier
from services.dispatch.domain.labelled import (
    LabelledRequest,
    load_labelled_requests,
    split,
    train_classifier,
)
from services.dispatch.domain.linear import LinearClassifier, load_linear_model
from services.dispatch.domain.places import Gazetteer, load_gazetteer
from services.dispatch.domain.routing import RoutingTable, load_routing_table
from services.dispatch.domain.taxonomy import Taxonomy, load_taxonomy
from services.dispatch.domain.units import UnitRegistry, load_unit_registry


@pytest.fixture(scope="session")
def taxonomy() -> Taxonomy:
    return load_taxonomy()


@pytest.fixture(scope="session")
def registry() -> UnitRegistry:
    return load_unit_registry()


@pytest.fixture(scope="session")
def gazetteer() -> Gazetteer:
    return load_gazetteer()


@pytest.fixture(scope="session")
def routing_table() -> RoutingTable:
    return load_routing_table(1)


@pytest.fixture(scope="session")
def labelled_split() -> tuple[list[LabelledRequest], list[LabelledRequest]]:
    return split(load_labelled_requests())


@pytest.fixture(scope="session")
def trained(taxonomy: Taxonomy, labelled_split) -> RequestClassifier:
    train, _ = labelled_split
    return train_classifier(RequestClassifier(taxonomy), train)


@pytest.fixture(scope="session")
def linear(taxonomy: Taxonomy, gazetteer: Gazetteer) -> LinearClassifier:
    """The classifier the service runs (the committed model), place names blanked as there."""
    return LinearClassifier(taxonomy, load_linear_model(), blank_places=gazetteer.without_places)


@pytest.fixture(scope="session")
def routing_v2(linear: LinearClassifier) -> RoutingTable:
    return load_routing_table(2).calibrated_to(linear.threshold)
