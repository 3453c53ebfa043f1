"""Keeping Python's cyclic garbage collector off the request path.

Reference counting frees a request's objects when it ends; the cyclic collector exists for the
rare cycle, but as configured by default it costs a busy service a lot (measured on the
activities service, 32 concurrent POSTs):

* **Full collections walked everything that lives as long as the process** — modules, functions,
  table metadata, pydantic validators, OpenAPI models: ~170,000 objects, ~65–200 ms a collection,
  several a minute, each stalling every request in flight and finding nothing to free.
  :func:`freeze_startup_objects` moves them to the permanent generation (``gc.freeze``): a full
  collection now walks only what was allocated since start-up (~10 ms).
* **Young collections ran every 700 net allocations**, and 32 requests in flight hold more than
  that between them, so one ran every few requests and promoted live request state to the older
  generations (~10 % of the CPU). With the threshold at 10,000 they run when something really
  accumulates; a batch of 10,000 records still triggers them as it should.

Cycles are found exactly as before, only later.

Bulk work (a whole round's compute, a round's metrics) allocates hundreds of thousands of objects
that stay alive until it ends; every collection during it walks them all and frees nothing.
:func:`paused_gc` pauses the collector for such a block (measured: ~0.2 s of a ~0.45 s metrics
build went to collections).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

YOUNG_THRESHOLD = 10_000


def freeze_startup_objects() -> None:
    """Call once, at the end of a service's start-up."""
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, older, oldest)


_pauses = 0
_was_enabled = False


@contextmanager
def paused_gc() -> Iterator[None]:
    """Pause the cyclic collector until the block ends. Pauses nest and may overlap (concurrent
    requests): the collector runs again when the last one ends, if it ran before the first.
    Reference counting still frees everything meanwhile; cycles wait for the next collection."""
    global _pauses, _was_enabled
    if _pauses == 0:
        _was_enabled = gc.isenabled()
        gc.disable()
    _pauses += 1
    try:
        yield
    finally:
        _pauses -= 1
        if _pauses == 0 and _was_enabled:
            gc.enable()
