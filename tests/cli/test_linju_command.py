"""The `linju` command as a newcomer uses it: `up` on a fresh data dir, Ctrl-C, `up` again."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from services.cli.stack import free_port


def _start_up(data_dir: Path, port: int) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env["LINJU_LOG_LEVEL"] = "WARNING"
    # Its stderr (the services' logs, a traceback) goes to a file a failure quotes.
    return subprocess.Popen(
        [sys.executable, "-m", "services.cli.main", "up", "--data-dir", str(data_dir), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=(data_dir / "up-stderr.log").open("a"),  # the child writes to it; closed when the test ends
        text=True,
        env=env,
        start_new_session=True,
    )


def _wait_for_banner(proc: subprocess.Popen[str], timeout: float = 90.0) -> str:
    assert proc.stdout is not None
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            raise AssertionError(f"linju up ended early: {''.join(seen)}{_stderr_tail(proc)}")
        seen.append(line)
        if "Ctrl-C stops everything" in line:
            return "".join(seen)
    raise AssertionError("no banner")


def _stderr_tail(proc: subprocess.Popen[str]) -> str:
    log = Path(str(proc.args[5])) / "up-stderr.log"  # type: ignore[index]
    if not log.exists():
        return ""
    return "\nstderr (last 40 lines):\n" + "\n".join(log.read_text().splitlines()[-40:])


def _stop(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == 0


def _port_closed(port: int) -> bool:
    try:
        httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
    except httpx.HTTPError:
        return True
    return False


def test_up_runs_the_stack_and_keeps_data_across_restarts(tmp_path: Path) -> None:
    port = free_port(4)  # the gateway's and the three services' after it
    proc = _start_up(tmp_path, port)
    try:
        banner = _wait_for_banner(proc)
        assert f"http://127.0.0.1:{port}/docs" in banner
        assert "district" in banner and "linju-demo-2026" in banner
        base = f"http://127.0.0.1:{port}"
        assert httpx.get(f"{base}/readyz").json()["status"] == "ok"
        token = httpx.post(
            f"{base}/api/v1/auth/token",
            data={"grant_type": "password", "username": "district", "password": "linju-demo-2026"},
        ).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        created = httpx.post(
            f"{base}/api/v1/users",
            json={
                "username": "kept-user",
                "display_name": "留存",
                "password": "long-enough-pass",
                "role": "district",
            },
            headers=headers,
        )
        assert created.status_code == 201
    finally:
        _stop(proc)
    # Everything is down: the four ports and the database.
    assert all(_port_closed(p) for p in range(port, port + 4))
    assert not (tmp_path / "pgdata" / "postmaster.pid").exists()

    proc = _start_up(tmp_path, port)
    try:
        _wait_for_banner(proc)
        login = httpx.post(
            f"http://127.0.0.1:{port}/api/v1/auth/token",
            data={"grant_type": "password", "username": "kept-user", "password": "long-enough-pass"},
        )
        assert login.status_code == 200  # the user created in the first run is still there
    finally:
        _stop(proc)


def test_create_user_reads_the_password_from_stdin(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    run = [sys.executable, "-m", "services.cli.main"]
    migrate = subprocess.run(
        [*run, "migrate", "--data-dir", str(tmp_path)], env=env, capture_output=True, text=True
    )
    assert migrate.returncode == 0, migrate.stderr
    created = subprocess.run(
        [
            *run,
            "create-user",
            "--data-dir",
            str(tmp_path),
            "--username",
            "li.lei",
            "--password-stdin",
            "--role",
            "district",
        ],
        input="a-very-long-password\n",
        env=env,
        capture_output=True,
        text=True,
    )
    assert created.returncode == 0, created.stderr
    assert "created user li.lei (district)" in created.stdout
    refused = subprocess.run(
        [
            *run,
            "create-user",
            "--data-dir",
            str(tmp_path),
            "--username",
            "wang",
            "--password-stdin",
            "--role",
            "street",
        ],
        input="a-very-long-password\n",
        env=env,
        capture_output=True,
        text=True,
    )
    assert refused.returncode == 2 and "street_id" in refused.stderr
