from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.security.openapi import Operation, merged_document, operations
from tests.security.world import World, build_world


@pytest.fixture(scope="session")
def world(gateway: httpx.Client, district_token: str) -> World:
    return build_world(gateway, district_token)


@pytest.fixture(scope="session")
def document(gateway: httpx.Client) -> dict[str, Any]:
    return merged_document(gateway)


@pytest.fixture(scope="session")
def ops(document: dict[str, Any]) -> list[Operation]:
    return operations(document)
