"""Where the time goes, for a target `make bench` finds not met (issue 7: "prints … for one that is
not, the profile that shows where the time goes").

While the target's load runs once more, every process that serves it is sampled with py-spy and
its CPU time read from /proc (PostgreSQL: the postmaster and all its backends). The report gives,
per process, the CPU it spent per operation and where its samples were: self time by package
(FastAPI, uvicorn, asyncpg … or our own code), our own functions by inclusive share (the
middleware, in every sample, left out) and the heaviest functions by self time. The event loop's
own C code shows as ``Runner.run``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
RATE_HZ = 200
TOP = 8
_FRAME = re.compile(r"^(?P<function>.+?) \((?P<file>[^()]*?)(?::\d+)?\)$")


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # ended in between
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / CLOCK_TICKS


def postgres_pids(postmaster_pid: int) -> list[int]:
    """The postmaster and its children (backends, walwriter, checkpointer …)."""
    pids = [postmaster_pid]
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == postmaster_pid:
            pids.append(int(stat.parent.name))
    return pids


def _frame_name(frame: str) -> str:
    """``create_activity (services/activities/activities/service.py:59)`` → function and the
    file from the package down (site-packages prefixes dropped), without the line."""
    match = _FRAME.match(frame)
    if not match:
        return frame
    path = match["file"]
    for marker in ("site-packages/", "/work/main/", "/lib/python3"):
        if marker in path:
            path = path.split(marker, 1)[1]
    return f"{match['function']} ({path})"


@dataclass
class Sampled:
    samples: int
    ours: Counter[str]  # our functions (services/…), inclusive, wrappers left out
    leaves: Counter[str]  # self time by function
    packages: Counter[str]  # self time by package


def _package(frame: str) -> str:
    path = frame.rsplit("(", 1)[-1].rstrip(")")
    if path.startswith("services/"):
        return "linju (services/)"
    top = path.split("/", 1)[0]
    return top.removesuffix(".py") if "/" in path or path.endswith(".py") else "python internals"


def _wrapper(frame: str) -> bool:
    """Middleware and the proxy front wrap every request: their inclusive share says nothing."""
    function = frame.split(" (", 1)[0]
    return "Middleware" in function or function.endswith(("Front.__call__", "__call__.<locals>.send"))


def read_raw(path: Path) -> Sampled:
    """py-spy's ``--format raw``: one ``frame;frame;… count`` line per distinct stack, root first."""
    ours: Counter[str] = Counter()
    leaves: Counter[str] = Counter()
    packages: Counter[str] = Counter()
    samples = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        samples += n
        frames = [_frame_name(f) for f in stack.split(";") if f and not f.startswith("process ")]
        if not frames:
            continue
        leaves[frames[-1]] += n
        packages[_package(frames[-1])] += n
        for frame in set(frames):
            if "(services/" in frame and not _wrapper(frame):
                ours[frame] += n
    return Sampled(samples, ours, leaves, packages)


def _share_lines(counter: Counter[str], samples: int) -> list[str]:
    return [f"      {100 * n / samples:5.1f} %  {frame}" for frame, n in counter.most_common(TOP)]


def profile(
    label: str,
    processes: dict[str, int],
    load: Callable[[], float],
    unit: str,
    *,
    seconds: float,
    postmaster_pid: int | None = None,
) -> str:
    """Run ``load`` (it returns how many operations it did) while sampling ``processes``; the
    report as text. Never raises: a profile that cannot be taken says why."""
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(py_spy).exists():
        return f"{label}: no profile (py-spy is not installed: pip install py-spy)"
    workdir = Path(tempfile.mkdtemp(prefix="linju-profile-"))
    try:
        recorders = {
            name: subprocess.Popen(  # noqa: S603
                [
                    py_spy,
                    "record",
                    "--pid",
                    str(pid),
                    "--duration",
                    str(max(1, round(seconds))),
                    "--rate",
                    str(RATE_HZ),
                    "--format",
                    "raw",
                    "--nonblocking",
                    "--output",
                    str(workdir / f"{name}.txt"),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            for name, pid in processes.items()
        }
        groups = {name: [pid] for name, pid in processes.items()}
        if postmaster_pid is not None:
            groups["postgresql"] = postgres_pids(postmaster_pid)
        before = {name: cpu_seconds(pids) for name, pids in groups.items()}
        operations = load()
        after = {name: cpu_seconds(pids) for name, pids in groups.items()}
        problems = []
        for name, recorder in recorders.items():
            _, err = recorder.communicate(timeout=seconds + 60)
            if recorder.returncode != 0:
                problems.append(f"py-spy on {name}: {err.decode(errors='replace').strip()[:200]}")
        lines = [f"{label} — where the time goes ({operations:,.0f} {unit}, py-spy at {RATE_HZ} Hz):"]
        spent = {name: after[name] - before[name] for name in groups}
        total = sum(spent.values()) or 1.0
        per_op = " · ".join(
            f"{name} {1000 * cpu / max(operations, 1):.3f} ms ({100 * cpu / total:.0f} %)"
            for name, cpu in sorted(spent.items(), key=lambda item: -item[1])
        )
        lines.append(f"  CPU per {unit.rstrip('s')}: {per_op}")
        for name in processes:
            raw = workdir / f"{name}.txt"
            if not raw.exists():
                continue
            sampled = read_raw(raw)
            if not sampled.samples:
                continue
            lines.append(f"  {name}: {sampled.samples} samples")
            lines.append("    self time by package:")
            lines += _share_lines(sampled.packages, sampled.samples)
            lines.append("    our functions (inclusive; middleware left out):")
            lines += _share_lines(sampled.ours, sampled.samples)
            lines.append("    heaviest functions (self):")
            lines += _share_lines(sampled.leaves, sampled.samples)
        lines += [f"  ({problem})" for problem in problems]
        return "\n".join(lines)
    except Exception as exc:  # a profile is a diagnosis: it must never fail the run
        return f"{label}: no profile ({type(exc).__name__}: {exc})"
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
