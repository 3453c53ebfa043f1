"""The route policy: which roles may call which path and method, and each route's deadline.

One table, read top to bottom: the longest matching prefix wins. A path with no
rule is refused (404), and every ``/internal`` path of a service is unreachable
from outside whatever the table says. Domain services still check roles and
object scope themselves; this table is the gateway's first, coarse gate.
"""

from __future__ import annotations

from dataclasses import dataclass

ALL = frozenset({"district", "street", "operator", "evaluator", "integration"})
READ = frozenset({"GET", "HEAD"})
WRITE = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass(frozen=True, slots=True)
class Rule:
    service: str
    prefix: str  # path under the service, e.g. "/sites"; "/" matches everything
    methods: frozenset[str]
    roles: frozenset[str]
    # Slow routes (batch ingest, exports) get the long deadline; see GatewaySettings.
    slow: bool = False


def _rules() -> list[Rule]:
    r = Rule
    return [
        # registry (SPEC §4): everyone reads within scope; street/operator/district write within scope.
        r("registry", "/", READ, ALL),
        r("registry", "/", WRITE, frozenset({"district", "street", "operator"})),
        r("registry", "/sites/export", READ, ALL, slow=True),
        # full NDJSON exports (issue 8) stream every row in scope: the long deadline.
        r("registry", "/export", READ, ALL, slow=True),
        r("activities", "/export", READ, ALL, slow=True),
        r("evaluation", "/export", READ, ALL, slow=True),
        # activities (SPEC §5): operators log their sites' work; district corrects.
        r("activities", "/", READ, ALL),
        r("activities", "/", WRITE, frozenset({"district", "operator"})),
        r("activities", "/batch", WRITE, frozenset({"district", "operator"}), slow=True),
        r("activities", "/activities/batch", WRITE, frozenset({"district", "operator"}), slow=True),
        # evaluation (SPEC §6): evaluators score, operators answer findings, streets review.
        r("evaluation", "/", READ, ALL),
        r("evaluation", "/", WRITE, frozenset({"district", "street", "operator", "evaluator"})),
    ]


RULES: list[Rule] = _rules()
SERVICES = frozenset(rule.service for rule in RULES)


def match(service: str, path: str, method: str) -> Rule | None:
    """The rule for ``method path`` under ``service`` (path relative to the service), or None."""
    best: Rule | None = None
    for rule in RULES:
        if rule.service != service or method not in rule.methods:
            continue
        prefix = rule.prefix
        matches = prefix == "/" or path == prefix or path.startswith(prefix.rstrip("/") + "/")
        if matches and (best is None or len(prefix) > len(best.prefix)):
            best = rule
    return best


def is_internal(path: str) -> bool:
    return path == "/internal" or path.startswith("/internal/")


def body_limit(path: str, default: int, batch: int) -> int:
    return batch if path.rstrip("/").endswith("/batch") else default
