"""Running the whole stack as processes: the four services under uvicorn, the webhook
dispatcher (`linju dispatch`), one database.

Used by ``linju up`` and by the integration tests, so the tests start exactly
what a newcomer starts.
"""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

APPS = {
    "registry": "services.registry.app:create_app",
    "activities": "services.activities.app:create_app",
    "evaluation": "services.evaluation.app:create_app",
    "gateway": "services.gateway.app:create_app",
}


def _ephemeral_low() -> int:
    """The first port the kernel hands to outgoing connections (Linux: 32768 unless tuned)."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


_handed_out: set[int] = set()


def free_port(count: int = 1) -> int:
    """A loopback port nobody listens on (with ``count``: the first of that many in a row).

    Chosen below the ephemeral range on purpose: a port the kernel picked for ``bind(0)`` is an
    ephemeral one, and between closing it and the service binding it any outgoing connection of
    any process may be given it. The service then fails to start (uvicorn exits with code 3);
    under the bench's and the tests' connection churn that happened. Ports below the range are
    never handed to outgoing connections.
    """
    high = _ephemeral_low() - count
    rng = random.SystemRandom()
    for _ in range(200):
        first = rng.randrange(10000, high)
        ports = range(first, first + count)
        if _handed_out.intersection(ports) or not all(_bindable(port) for port in ports):
            continue
        _handed_out.update(ports)
        return first
    raise RuntimeError(f"no {count} free loopback port(s) below {high + count}")


def _bindable(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


@dataclass
class Stack:
    database_url: str
    gateway_port: int = 8000
    # The domain services always listen on loopback; only the gateway may face the network.
    gateway_host: str = "127.0.0.1"
    ports: dict[str, int] = field(default_factory=dict)
    extra_env: dict[str, str] = field(default_factory=dict)
    log_dir: Path | None = None
    # Pin every service to these CPUs (`taskset -c`), e.g. "0" while a load generator runs on "1".
    cpus: str | None = None
    # Also run the webhook dispatcher (started once the gateway is ready: it needs service tokens).
    dispatcher: bool = True
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        defaults = {
            "registry": self.gateway_port + 1,
            "activities": self.gateway_port + 2,
            "evaluation": self.gateway_port + 3,
        }
        for name, port in defaults.items():
            self.ports.setdefault(name, port)
        self.ports["gateway"] = self.gateway_port

    def url(self, service: str = "gateway") -> str:
        return f"http://127.0.0.1:{self.ports[service]}"

    def environment(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            {
                "DATABASE_URL": self.database_url,
                "LINJU_JWKS_URL": f"{self.url('gateway')}/.well-known/jwks.json",
                "LINJU_GATEWAY_URL": self.url("gateway"),
                "LINJU_GATEWAY_REGISTRY_URL": self.url("registry"),
                "LINJU_GATEWAY_ACTIVITIES_URL": self.url("activities"),
                "LINJU_GATEWAY_EVALUATION_URL": self.url("evaluation"),
                "LINJU_ACTIVITIES_REGISTRY_URL": self.url("registry"),
                "LINJU_EVALUATION_REGISTRY_URL": self.url("registry"),
                "LINJU_EVALUATION_ACTIVITIES_URL": self.url("activities"),
                "PYTHONUNBUFFERED": "1",
            }
        )
        env.update(self.extra_env)
        return env

    def start_service(self, name: str) -> None:
        if name == "dispatcher":
            self.start_dispatcher()
            return
        host = self.gateway_host if name == "gateway" else "127.0.0.1"
        cmd = [
            sys.executable,
            "-m",
            "uvicorn",
            APPS[name],
            "--factory",
            "--host",
            host,
            "--port",
            str(self.ports[name]),
            "--no-access-log",
            "--timeout-graceful-shutdown",
            "5",
            "--limit-concurrency",
            "2000",
        ]
        self._spawn(name, cmd)

    def start_dispatcher(self) -> None:
        """The webhook dispatcher: no port, it reads the feeds and POSTs to the receivers."""
        self._spawn("dispatcher", [sys.executable, "-m", "services.cli.main", "dispatch"])

    def _spawn(self, name: str, cmd: list[str]) -> None:
        if self.cpus is not None:
            cmd = ["taskset", "-c", self.cpus, *cmd]
        out = None
        if self.log_dir is not None:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            out = open(self.log_dir / f"{name}.log", "ab")  # noqa: SIM115 - handed to the child process
        self.processes[name] = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            cmd, env=self.environment(), stdout=out, stderr=subprocess.STDOUT if out else None
        )

    def start(self, timeout_s: float = 60.0) -> None:
        for name in ("registry", "activities", "evaluation", "gateway"):
            self.start_service(name)
        self.wait_ready(timeout_s)
        if self.dispatcher:
            self.start_dispatcher()

    def wait_ready(self, timeout_s: float = 60.0, service: str = "gateway") -> None:
        deadline = time.monotonic() + timeout_s
        last = "no answer"
        while time.monotonic() < deadline:
            for name, proc in self.processes.items():
                if proc.poll() is not None:
                    raise RuntimeError(f"{name} exited with code {proc.returncode}")
            try:
                response = httpx.get(f"{self.url(service)}/readyz", timeout=2.0)
                if response.status_code == 200:
                    return
                last = response.text
            except httpx.HTTPError as exc:
                last = type(exc).__name__
            time.sleep(0.2)
        raise TimeoutError(f"{service} not ready after {timeout_s}s: {last}")

    def stop_service(self, name: str, sig: int = signal.SIGTERM) -> None:
        proc = self.processes.pop(name, None)
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(sig)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def stop(self) -> None:
        for name in ("dispatcher", "gateway", "evaluation", "activities", "registry"):
            self.stop_service(name)
