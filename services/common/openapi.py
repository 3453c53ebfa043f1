"""Error responses in the OpenAPI documents: what the API really sends.

Every error answer is RFC 9457 ``application/problem+json`` (services/common/errors.py), but the
documents FastAPI generates describe a 422 ``HTTPValidationError`` as ``application/json`` and no
other error at all. :func:`document_problems` rewrites a document so that every operation
documents its ``422`` and every other ``4XX``/``5XX`` as the problem document it is; schema-driven
clients and the fuzzing suite (tests/resilience/test_fuzz.py) then check error bodies too.
"""

from __future__ import annotations

import json
from typing import Any

PROBLEM_JSON = "application/problem+json"
HTTP_METHODS = frozenset({"get", "put", "post", "delete", "options", "head", "patch", "trace"})

PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "An error (RFC 9457): `code` is stable, `title` and `detail` follow Accept-Language.",
    "type": "object",
    "required": ["type", "title", "status", "detail", "code"],
    "properties": {
        "type": {"type": "string", "examples": ["https://linju.example.cn/problems/validation-failed"]},
        "title": {"type": "string"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "detail": {"type": "string"},
        "code": {"type": "string", "examples": ["validation_failed"]},
        "request_id": {"type": "string", "description": "The X-Request-ID of the request, for the logs"},
        "errors": {
            "type": "array",
            "description": "Validation failures, one per field",
            "items": {
                "type": "object",
                "required": ["field", "message"],
                "properties": {
                    "field": {"type": "string"},
                    "message": {"type": "string"},
                    "type": {"type": ["string", "null"]},
                },
            },
        },
    },
    # Some problems carry further extension members (e.g. `checks` on a failed readiness probe).
    "additionalProperties": True,
}
_REF = {"$ref": "#/components/schemas/Problem"}
_FASTAPI_VALIDATION_SCHEMAS = ("HTTPValidationError", "ValidationError")


def _problem_response(description: str) -> dict[str, Any]:
    return {"description": description, "content": {PROBLEM_JSON: {"schema": dict(_REF)}}}


def document_problems(doc: dict[str, Any]) -> dict[str, Any]:
    """Document every operation's errors as problem+json (in place; running it twice is harmless)."""
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    schemas["Problem"] = PROBLEM_SCHEMA
    for item in doc.get("paths", {}).values():
        for method, operation in item.items():
            if method not in HTTP_METHODS or not isinstance(operation, dict):
                continue
            responses = operation.setdefault("responses", {})
            if "422" in responses:
                responses["422"] = _problem_response("Validation failed (`code` validation_failed, `errors`)")
            responses.setdefault("4XX", _problem_response("Client error"))
            responses.setdefault("5XX", _problem_response("Server or upstream error (retry 503/504)"))
    for name in _FASTAPI_VALIDATION_SCHEMAS:  # in this order: the first refers to the second
        schema = schemas.pop(name, None)
        if schema is not None and f'"#/components/schemas/{name}"' in json.dumps(doc):
            schemas[name] = schema  # still used by something else: keep it
    return doc
