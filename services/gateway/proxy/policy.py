"""The route policy: which roles may call which path and method, each route's deadline and budget.

One table, read top to bottom: the longest matching prefix wins. A prefix matches the path itself
and everything under it; a ``{…}`` segment in a prefix matches any one path segment
(``/scorecards/{id}/export.xlsx``). A path with no rule is refused (404), and every ``/internal``
path of a service is unreachable from outside whatever the table says. Domain services still
check roles and object scope themselves; this table is the gateway's first, coarse gate.

``rate_limit`` names a per-principal budget (``GatewaySettings.rate_limits()``): expensive routes
— exports, score writes, batch ingest — answer 429 with ``Retry-After`` to a caller that floods
them (:mod:`services.gateway.proxy.ratelimit`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

ALL = frozenset({"district", "street", "operator", "evaluator", "integration"})
READ = frozenset({"GET", "HEAD"})
WRITE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
EVALUATION_WRITERS = frozenset({"district", "street", "operator", "evaluator"})

# Budget names (GatewaySettings.rate_limits()).
EXPORTS = "exports"
SCORE_WRITES = "score_writes"
BATCHES = "batches"


@dataclass(frozen=True, slots=True)
class Rule:
    service: str
    prefix: str  # path under the service, e.g. "/sites"; "/" matches everything
    methods: frozenset[str]
    roles: frozenset[str]
    # Slow routes (batch ingest, exports) get the long deadline; see GatewaySettings.
    slow: bool = False
    # The per-principal budget this route draws from (None: unlimited).
    rate_limit: str | None = None

    @property
    def label(self) -> str:
        """Metrics label for answers the gateway gives itself on this rule (401, 429, 503 …)."""
        return f"/api/v1/{self.service}{self.prefix}*"


def _rules() -> list[Rule]:
    r = Rule
    rules = [
        # registry (SPEC §4): everyone reads within scope; street/operator/district write within scope.
        r("registry", "/", READ, ALL),
        r("registry", "/", WRITE, frozenset({"district", "street", "operator"})),
        r("registry", "/sites/export", READ, ALL, slow=True, rate_limit=EXPORTS),
        # activities (SPEC §5): operators log their sites' work; district corrects.
        r("activities", "/", READ, ALL),
        r("activities", "/", WRITE, frozenset({"district", "operator"})),
        r("activities", "/batch", WRITE, frozenset({"district", "operator"}), slow=True, rate_limit=BATCHES),
        r(
            "activities",
            "/activities/batch",
            WRITE,
            frozenset({"district", "operator"}),
            slow=True,
            rate_limit=BATCHES,
        ),
        # 6.1.2 statistics (JSON, CSV or XLSX): an aggregation over a month of logs.
        r("activities", "/stats", READ, ALL, rate_limit=EXPORTS),
        # evaluation (SPEC §6): evaluators score, operators answer findings, streets review.
        r("evaluation", "/", READ, ALL),
        r("evaluation", "/", WRITE, EVALUATION_WRITERS),
        # Every scorecard write (compute, items, findings, surveys, submit …) draws from one budget.
        r("evaluation", "/scorecards", WRITE, EVALUATION_WRITERS, rate_limit=SCORE_WRITES),
        r("evaluation", "/scorecards/{id}/export.xlsx", READ, ALL, slow=True, rate_limit=EXPORTS),
    ]
    # Full exports of every domain service (issue 8): streamed NDJSON.
    rules += [
        r(service, "/export", READ, ALL, slow=True, rate_limit=EXPORTS)
        for service in ("registry", "activities", "evaluation")
    ]
    return rules


RULES: list[Rule] = _rules()
SERVICES = frozenset(rule.service for rule in RULES)


@dataclass(frozen=True, slots=True)
class _Matcher:
    rule: Rule
    exact: str
    under: str  # exact + "/"
    pattern: re.Pattern[str] | None


def _matcher(rule: Rule) -> _Matcher:
    exact = rule.prefix.rstrip("/")
    pattern = None
    if "{" in exact:
        parts = [
            "[^/]+" if segment.startswith("{") and segment.endswith("}") else re.escape(segment)
            for segment in exact.split("/")
        ]
        pattern = re.compile("/".join(parts) + "(?:/|$)")
    return _Matcher(rule, exact, exact + "/", pattern)


def _index(rules: list[Rule]) -> dict[tuple[str, str], tuple[_Matcher, ...]]:
    """(service, method) -> matchers, most specific (longest prefix) first; ties keep table order."""
    index: dict[tuple[str, str], list[_Matcher]] = {}
    for rule in rules:
        for method in rule.methods:
            index.setdefault((rule.service, method), []).append(_matcher(rule))
    return {key: tuple(sorted(found, key=lambda m: -len(m.rule.prefix))) for key, found in index.items()}


_INDEX = _index(RULES)


def match(service: str, path: str, method: str) -> Rule | None:
    """The rule for ``method path`` under ``service`` (path relative to the service), or None."""
    for matcher in _INDEX.get((service, method), ()):
        if matcher.pattern is not None:
            if matcher.pattern.match(path):
                return matcher.rule
        elif not matcher.exact or path == matcher.exact or path.startswith(matcher.under):
            return matcher.rule
    return None


def serves_method(service: str, method: str) -> bool:
    """Whether any rule of the service admits the method (else the answer is 405, not 404)."""
    return (service, method) in _INDEX


# A service's own operational endpoints are not part of the public API either (the gateway has
# its own /readyz, /openapi.json and /docs). Only the liveness check `/healthz` stays routed, for
# signed-in callers: it says nothing but "ok" and is the trivial route of the proxy benchmark.
OPERATIONAL = frozenset({"/readyz", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"})


def is_internal(path: str) -> bool:
    return path == "/internal" or path.startswith("/internal/") or path in OPERATIONAL


def body_limit(path: str, default: int, batch: int) -> int:
    return batch if path.rstrip("/").endswith("/batch") else default
