"""Fixtures of the resilience tests: every test module gets a private stack (see harness.py).

A module may set ``STACK_ENV`` (extra environment for all four services, e.g. a short upstream
timeout for the gateway).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import login
from tests.registry.factories import operated_site
from tests.resilience.harness import OwnStack, own_stack


@pytest.fixture(scope="module")
def own(request: pytest.FixtureRequest) -> Iterator[OwnStack]:
    with own_stack(getattr(request.module, "STACK_ENV", None)) as running:
        yield running


@pytest.fixture(scope="module")
def client(own: OwnStack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=own.gateway_url, timeout=30.0) as http:
        yield http


@pytest.fixture(scope="module")
def district(client: httpx.Client) -> str:
    return login(client, "district")["access_token"]


@pytest.fixture(scope="module")
def operated(client: httpx.Client, district: str) -> dict[str, Any]:
    """A site with an operator under contract: {"site", "organization", "contract", "operator_token"}."""
    return operated_site(client, district)
