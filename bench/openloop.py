"""A small open-loop load generator: requests start at a fixed arrival rate, whatever the answers do.

Latency is measured from each request's *scheduled* start, so a slow server cannot hide its queue
(no coordinated omission). Prints JSON: sent, ok, errors, p50/p90/p99/max in milliseconds.

    python bench/openloop.py URL --rate 200 --seconds 10 [--header 'Authorization: Bearer …']

The client is aiohttp's: httpx's AsyncClient tops out near 300 requests/s under concurrency on this
machine (README), so above that rate it, not the server, would be the queue being measured.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

import aiohttp


async def run(url: str, rate: float, seconds: float, headers: dict[str, str]) -> dict[str, float | int]:
    latencies: list[float] = []
    errors = 0
    connector = aiohttp.TCPConnector(limit=512)
    timeout = aiohttp.ClientTimeout(total=10.0)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout, headers=headers) as client:

        async def one(scheduled: float) -> None:
            nonlocal errors
            try:
                async with client.get(url) as response:
                    await response.read()
                    if response.status >= 300:
                        errors += 1
                        return
            except (aiohttp.ClientError, TimeoutError):
                errors += 1
                return
            latencies.append(time.perf_counter() - scheduled)

        start = time.perf_counter()
        total = int(rate * seconds)
        tasks = []
        for i in range(total):
            scheduled = start + i / rate
            delay = scheduled - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(scheduled)))
        await asyncio.gather(*tasks)
    latencies.sort()

    def pct(p: float) -> float:
        return (
            round(latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000, 2) if latencies else 0.0
        )

    return {
        "sent": total,
        "ok": len(latencies),
        "errors": errors,
        "p50_ms": pct(0.50),
        "p90_ms": pct(0.90),
        "p99_ms": pct(0.99),
        "max_ms": pct(1.0),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--rate", type=float, required=True)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--header", action="append", default=[])
    args = parser.parse_args()
    headers = dict(h.split(": ", 1) for h in args.header)
    print(json.dumps(asyncio.run(run(args.url, args.rate, args.seconds, headers))))


if __name__ == "__main__":
    main()
