"""QA of the archive side: inputs at the edges, on both backends, over real HTTP."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import Engine

from aggregator.api import ApiSettings, create_app
from aggregator.store import create_db_engine
from aggregator.store.archive import Archive
from tests.support.archive_data import kursk_archive, serve_in_thread

ATOM = "{http://www.w3.org/2005/Atom}"


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    eng = create_db_engine(database_url)
    kursk_archive(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def client(engine: Engine) -> Iterator[httpx.Client]:
    # The odd name is configured: an unknown topic's feed is a 404 (issue 16).
    app = create_app(Archive(engine), ApiSettings(topics=("korea", "\x01a b?c#d")))
    with serve_in_thread(app) as base, httpx.Client(base_url=base, timeout=30) as c:
        yield c


def test_many_excluded_words_run_on_both_backends(engine: Engine) -> None:
    # SQLite used to nest one level per excluded word, `((kursk NOT w0) NOT w1) ...`,
    # and FTS5's parser stack overflowed near a hundred: a 400 where PostgreSQL answers.
    query = "kursk " + " ".join(f"-w{i}" for i in range(120)) + " -moldova"
    page = Archive(engine).search(query, limit=50)
    assert sorted(a.id for a in page.items) == [1, 2, 3]
    excluding = Archive(engine).search(query + " -pyongyang", limit=50)
    assert sorted(a.id for a in excluding.items) == [1, 3]


@pytest.mark.parametrize(
    ("path", "param"),
    [
        ("/api/v1/articles", "since"),
        ("/api/v1/articles", "until"),
        ("/api/v1/events", "before"),
    ],
)
@pytest.mark.parametrize("value", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"])
def test_times_out_of_range_in_utc_are_client_errors(
    client: httpx.Client, path: str, param: str, value: str
) -> None:
    # Valid ISO times whose UTC instant falls in year 0 or 10000: converting them
    # raised OverflowError, a 500.
    r = client.get(path, params={param: value})
    assert r.status_code == 422
    assert param in r.json()["detail"]


def test_topic_atom_is_well_formed_whatever_the_name_in_the_path(client: httpx.Client) -> None:
    # The name comes from the request path: a control character in it went raw into
    # the href attributes (XML 1.0 cannot carry it), and a space, '?' or '#' made
    # links pointing elsewhere.
    r = client.get("/topics/%01a%20b%3Fc%23d.atom")
    assert r.status_code == 200
    root = ET.fromstring(r.content)
    links = {link.get("rel"): link.get("href") for link in root.iter(f"{ATOM}link")}
    base = str(client.base_url).rstrip("/")
    assert links["self"] == f"{base}/topics/%01a%20b%3Fc%23d.atom"
    assert links["alternate"] == f"{base}/topics/%01a%20b%3Fc%23d"
    assert root.findtext(f"{ATOM}id") == f"{base}/topics/%01a%20b%3Fc%23d"
    assert root.findtext(f"{ATOM}title") == "News monitor: a b?c#d"
