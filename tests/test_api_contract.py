"""Contract walk: every operation in /openapi.json, with generated parameters, no 5xx.

Our own walker (no schemathesis dependency): for each operation it varies one
parameter at a time over values chosen from the parameter's schema (edge numbers,
query-language oddities, bad dates, unknown enum values, odd path segments) and then
sends all parameters together, with and without the write token.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine

from aggregator.api import ApiSettings, create_app
from aggregator.metrics import Metrics
from aggregator.store import create_db_engine
from aggregator.store.archive import Archive
from tests.support.archive_data import kursk_archive, serve_in_thread
from tests.test_api import TOKEN, RecordingCommands

INTEGERS: list[Any] = [1, 0, -1, 3, 2**63 - 1, 2**63, 10**30, "abc", "1.5"]
STRINGS: list[Any] = [
    "kursk",
    "korean troops",
    "",
    " ",
    '"',
    '"north korean',
    "NOT",
    "NOT kursk",
    "(",
    ")",
    "*",
    "k*",
    "troop*",
    "a OR -b",
    "outlet:bbc",
    "lang:",
    "title:(kursk OR troops) -lang:fr",
    "korea NEAR/999 troops",
    "korea NEAR/3 troops",
    "ünïcödé 北朝鮮 войска",
    "'; DROP TABLE articles; --",
    "%",
    "\\",
    "x" * 1100,
    "a\u200bb",
    "korea",
    "reuters",
    "a3",
    "..",
    "%2F",
]
DATES: list[Any] = [
    "2024-11-04T08:00:00",
    "2024-11-04T08:00:00+05:00",
    "2024-11-04",
    "yesterday",
    "9999-12-31T23:59:59Z",
    "0001-01-01T00:00:00",
]


def values_for(schema: dict[str, Any], spec: dict[str, Any]) -> list[Any]:
    if "anyOf" in schema:
        out: list[Any] = []
        for option in schema["anyOf"]:
            out += values_for(option, spec)
        return out
    if "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    if "enum" in schema:
        return [*schema["enum"], "bogus"]
    kind = schema.get("type")
    if kind == "integer":
        return INTEGERS
    if kind == "array":
        return [[v] for v in values_for(schema.get("items", {}), spec)[:6]] + [["bbc", "reuters"]]
    if kind == "string" and schema.get("format") == "date-time":
        return DATES
    if kind == "string":
        return STRINGS
    return []


@pytest.fixture
def base(database_url: str) -> Iterator[str]:
    engine: Engine = create_db_engine(database_url)
    kursk_archive(engine)
    archive = Archive(engine)
    metrics = Metrics(feed_states=archive.feed_state_counts, outbox_depth=archive.outbox_depth)
    app = create_app(
        archive,
        ApiSettings(token=TOKEN, topics=("korea",)),
        commands=RecordingCommands(),
        metrics=metrics,
    )
    with serve_in_thread(app) as url:
        yield url
    engine.dispose()


def requests_for(
    path: str, method: str, op: dict[str, Any], spec: dict[str, Any]
) -> Iterator[dict[str, Any]]:
    params = [p for p in op.get("parameters", []) if p["in"] in ("path", "query")]
    choices = {p["name"]: values_for(p.get("schema", {}), spec) or ["x"] for p in params}
    # The query language gets every odd string; names and ids a shorter list (time).
    for name, vals in choices.items():
        if name != "q" and vals is STRINGS:
            choices[name] = [*STRINGS[:8], *STRINGS[-6:]]
    defaults = {name: vals[0] for name, vals in choices.items()}
    bodies: list[Any] = [None]
    if "requestBody" in op:
        bodies = [
            {"name": "new", "url": "https://example.org/new.xml"},
            {"name": "reuters", "url": "https://example.org/r.xml"},
            {"name": "", "url": ""},
            {"name": "x", "url": "javascript:alert(1)"},
            {"name": "x" * 500, "url": "http://a"},
            {"name": "\x00", "url": "https://example.org/"},
            {},
            [],
            "not json",
        ]
    combos: list[dict[str, Any]] = [defaults]
    for name, vals in choices.items():
        combos += [{**defaults, name: v} for v in vals[1:]]
    # everything at once, pairwise-ish: the i-th value of each parameter together
    width = max((len(v) for v in choices.values()), default=0)
    combos += [{n: vals[i % len(vals)] for n, vals in choices.items()} for i in range(width)]
    path_names = {p["name"] for p in params if p["in"] == "path"}
    for values, body in itertools.product(combos, bodies):
        url = path
        for name in path_names:
            url = url.replace("{" + name + "}", httpx.URL(str(values[name])).raw_path.decode())
        query = {k: v for k, v in values.items() if k not in path_names}
        for auth in (None, f"Bearer {TOKEN}") if method != "get" else (None,):
            yield {
                "method": method.upper(),
                "url": url,
                "params": query,
                "json": body if isinstance(body, dict | list) else None,
                "content": body if isinstance(body, str) else None,
                "headers": {"Authorization": auth} if auth else {},
            }


def test_no_operation_answers_5xx(base: str) -> None:
    with httpx.Client(base_url=base, timeout=30) as client:
        spec = client.get("/openapi.json").json()
        operations = [
            (path, method, op)
            for path, item in spec["paths"].items()
            for method, op in item.items()
            if method in ("get", "post", "delete", "put", "patch")
        ]
        assert len(operations) >= 14  # the walk covers the API, not an empty spec
        failures: list[str] = []
        sent = 0
        for path, method, op in operations:
            for req in requests_for(path, method, op, spec):
                r = client.request(**{k: v for k, v in req.items() if v is not None})
                sent += 1
                if r.status_code >= 500:
                    failures.append(
                        f"{req['method']} {r.request.url} -> {r.status_code}: {r.text[:200]}"
                    )
    assert sent > 500
    assert failures == []
