"""The test stack: a real embedded PostgreSQL, migrated and seeded, and the four services as
uvicorn processes on free ports — started once per test session, exactly as `linju up` does.

Set DATABASE_URL to run the suite against another PostgreSQL (it must be a throwaway database).
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx
import pytest

from services.cli import database as db
from services.cli.seed import DEMO_PASSWORD, seed
from services.cli.stack import Stack, free_port

# Short enough for the tests to see a rotated key at a service quickly.
TEST_ENV = {
    "LINJU_ENV": "test",
    "LINJU_JWKS_REFETCH_INTERVAL": "0.5",
    "LINJU_LOG_LEVEL": "WARNING",
    # Webhooks (tests/webhooks): a loopback receiver is allowed, retries come fast and give up soon.
    "LINJU_WEBHOOK_ALLOWED_HOSTS": "127.0.0.1/32",
    "LINJU_WEBHOOK_BACKOFF_BASE_S": "0.05",
    "LINJU_WEBHOOK_BACKOFF_MAX_S": "0.5",
    "LINJU_WEBHOOK_RETRY_WINDOW_S": "10",
    "LINJU_WEBHOOK_POLL_INTERVAL_S": "0.5",
    "LINJU_WEBHOOK_TIMEOUT_S": "5",
    # Per-principal budgets (exports, score writes, batches): the suite's scripted users score a
    # whole round in seconds, far faster than people. tests/gateway/test_limits.py floods a
    # gateway of its own with small budgets.
    "LINJU_GATEWAY_RATE_LIMIT_EXPORTS_PER_MIN": "100000",
    "LINJU_GATEWAY_RATE_LIMIT_SCORE_WRITES_PER_MIN": "100000",
    "LINJU_GATEWAY_RATE_LIMIT_BATCHES_PER_MIN": "100000",
}


@dataclass
class RunningStack:
    stack: Stack
    database_url: str
    log_dir: Path

    @property
    def gateway_url(self) -> str:
        return self.stack.url("gateway")

    def service_url(self, name: str) -> str:
        return self.stack.url(name)

    def sql(self, query: str, *args: object) -> list[asyncpg.Record]:
        """Run one query against the stack's database (for assertions and fixtures)."""

        async def run() -> list[asyncpg.Record]:
            conn = await asyncpg.connect(_asyncpg_dsn(self.database_url))
            try:
                return await conn.fetch(query, *args)
            finally:
                await conn.close()

        return asyncio.run(run())


def _asyncpg_dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


@pytest.fixture(scope="session")
def stack() -> Iterator[RunningStack]:
    tmp = Path(tempfile.mkdtemp(prefix="linju-test-"))
    database = db.open_database(tmp, url=os.environ.get("DATABASE_URL"))
    try:
        db.migrate(database.url)
        asyncio.run(seed(database.url, demo=True))
        port = free_port()
        ports = {name: free_port() for name in ("registry", "activities", "evaluation")}
        the_stack = Stack(
            database_url=database.url,
            gateway_port=port,
            ports=ports,
            extra_env=TEST_ENV,
            log_dir=tmp / "logs",
        )
        the_stack.start()
        try:
            yield RunningStack(the_stack, database.url, tmp / "logs")
        finally:
            the_stack.stop()
    finally:
        database.stop()


@pytest.fixture(scope="session")
def gateway(stack: RunningStack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.gateway_url, timeout=20.0) as client:
        yield client


def login(client: httpx.Client, username: str, password: str = DEMO_PASSWORD) -> dict[str, str]:
    response = client.post(
        "/api/v1/auth/token", data={"grant_type": "password", "username": username, "password": password}
    )
    assert response.status_code == 200, response.text
    return response.json()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="session")
def district_token(gateway: httpx.Client) -> str:
    return login(gateway, "district")["access_token"]


@pytest.fixture(scope="session")
def street_token(gateway: httpx.Client) -> str:
    return login(gateway, "xixing")["access_token"]
