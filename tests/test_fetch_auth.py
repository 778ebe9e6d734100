"""Private and paid feeds: HTTP Basic credentials and extra headers, sent to the feed's
own origin only, never logged, validated with the rest of the configuration."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from aggregator.compose import load_config, pipeline_settings, request_auth, user_agent
from aggregator.errors import ConfigError
from aggregator.models import FetchRequest, FetchSettings, RequestAuth, origin_of
from aggregator.poll.fetch import Fetcher
from aggregator.poll.poller import PipelineSettings
from aggregator.store import FeedSpec, Store
from aggregator.store.archive import Archive
from tests.support.httpserver import LocalServer, RecordedRequest, Response
from tests.support.poller import local_poller

RSS = (
    b'<rss version="2.0"><channel><title>Wire</title>'
    b"<item><title>North Korean troops reach Kursk</title><guid>w1</guid>"
    b"<link>https://wire.example/w1</link><description>Paid wire copy.</description>"
    b"</item></channel></rss>"
)
SECRET = "s3cr3t-pass"


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.fixture
def server() -> Iterator[LocalServer]:
    with LocalServer() as srv:
        yield srv


@pytest.fixture
def elsewhere() -> Iterator[LocalServer]:
    """A second server: another port on 127.0.0.1 is another origin."""
    with LocalServer() as srv:
        yield srv


def protected(user: str, password: str) -> object:
    def handle(req: RecordedRequest) -> Response:
        if req.header("authorization") != basic(user, password):
            return Response(status=401, headers={"www-authenticate": 'Basic realm="wire"'})
        return Response(body=RSS, content_type="application/rss+xml")

    return handle


def fetch_settings() -> FetchSettings:
    return FetchSettings(user_agent=user_agent(), allow_private_networks=True)


async def fetch(url: str, auth: RequestAuth | None) -> tuple[int | None, str]:
    async with Fetcher(fetch_settings()) as fetcher:
        result = await fetcher.fetch(FetchRequest(url, auth=auth))
    return result.status, str(result.error) if result.error else ""


def auth_for(url: str, **kw: object) -> RequestAuth:
    return RequestAuth(origin=origin_of(url), **kw)  # type: ignore[arg-type]


# -- the fetcher ------------------------------------------------------------------------


async def test_basic_credentials_open_a_protected_feed(server: LocalServer) -> None:
    server.route("/feed", protected("analyst", SECRET))  # type: ignore[arg-type]
    url = server.url("/feed")
    status, error = await fetch(url, None)
    assert status == 401
    assert "needs credentials" in error
    status, error = await fetch(url, auth_for(url, username="analyst", password="wrong"))
    assert status == 401
    assert "refused the feed's credentials" in error
    assert "wrong" not in error
    status, error = await fetch(url, auth_for(url, username="analyst", password=SECRET))
    assert (status, error) == (200, "")


async def test_extra_headers_may_replace_accept_and_user_agent(server: LocalServer) -> None:
    server.route("/feed", Response(body=RSS, content_type="application/rss+xml"))
    url = server.url("/feed")
    headers = (("X-Api-Key", "k-123"), ("accept", "application/rss+xml"), ("User-Agent", "Ua/1"))
    status, _ = await fetch(url, auth_for(url, headers=headers))
    assert status == 200
    (req,) = server.requests_for("/feed")
    assert req.header("x-api-key") == "k-123"
    assert req.header("user-agent") == "Ua/1"
    # Replaced, not sent twice in two spellings.
    assert [v for k, v in req.headers if k.lower() == "accept"] == ["application/rss+xml"]


async def test_credentials_follow_same_origin_redirects_only(
    server: LocalServer, elsewhere: LocalServer
) -> None:
    elsewhere.route("/feed", Response(body=RSS, content_type="application/rss+xml"))
    server.route("/feed", Response(body=RSS, content_type="application/rss+xml"))
    server.route("/moved-here", Response(status=302, headers={"location": "/feed"}))
    server.route("/moved-away", Response(status=302, headers={"location": elsewhere.url("/feed")}))
    auth = auth_for(server.url("/"), username="analyst", password=SECRET, headers=(("X-K", "1"),))

    assert (await fetch(server.url("/moved-here"), auth))[0] == 200
    for req in server.requests_for("/moved-here") + server.requests_for("/feed"):
        assert req.header("authorization") == basic("analyst", SECRET)
        assert req.header("x-k") == "1"

    assert (await fetch(server.url("/moved-away"), auth))[0] == 200
    assert server.requests_for("/moved-away")[0].header("authorization") is not None
    (away,) = elsewhere.requests_for("/feed")
    assert away.header("authorization") is None
    assert away.header("x-k") is None


async def test_a_moved_feed_does_not_take_its_credentials_along(
    server: LocalServer, elsewhere: LocalServer
) -> None:
    """The origin is the configured URL's: after a 301 to another host the feed's URL in
    the database changes, and the credentials must stay behind."""
    elsewhere.route("/feed", Response(body=RSS, content_type="application/rss+xml"))
    auth = auth_for(server.url("/feed"), username="analyst", password=SECRET)
    assert (await fetch(elsewhere.url("/feed"), auth))[0] == 200
    assert elsewhere.requests_for("/feed")[0].header("authorization") is None


def test_secrets_stay_out_of_reprs() -> None:
    auth = RequestAuth(
        origin=origin_of("https://wire.example/feed"),
        headers=(("X-Api-Key", "key-in-header"),),
        username="analyst",
        password=SECRET,
    )
    text = repr(FetchRequest("https://wire.example/feed", auth=auth))
    assert SECRET not in text
    assert "key-in-header" not in text
    assert "X-Api-Key" in text
    assert "wire.example" in text


@pytest.mark.parametrize(
    ("url", "origin"),
    [
        ("https://Wire.Example/feed", "https://wire.example:443"),
        ("https://wire.example:443/x", "https://wire.example:443"),
        ("http://wire.example/x", "http://wire.example:80"),
        ("http://wire.example:8080/x", "http://wire.example:8080"),
        ("http://[::1]:81/x", "http://::1:81"),
    ],
)
def test_origin_of(url: str, origin: str) -> None:
    assert origin_of(url) == origin
    assert RequestAuth(origin).applies_to(url)


def test_scheme_and_port_are_part_of_the_origin() -> None:
    auth = RequestAuth(origin_of("https://wire.example/feed"), username="u", password="p")
    assert not auth.applies_to("http://wire.example/feed")
    assert not auth.applies_to("https://wire.example:8443/feed")
    assert not auth.applies_to("https://evil.example/wire.example")


# -- the configuration -----------------------------------------------------------------

BASE = "feeds:\n  - name: Wire\n    url: https://wire.example/feed\n"


def problems(extra: str, env: dict[str, str] | None = None) -> list[str]:
    try:
        load_config(None, text=BASE + extra, env=env or {})
    except ConfigError as exc:
        return list(exc.problems)
    return []


def test_config_builds_request_auth_from_the_environment() -> None:
    text = BASE + (
        "    username: analyst\n    password: ${WIRE_PASSWORD}\n"
        "    headers: {X-Api-Key: '${WIRE_KEY}'}\n"
    )
    loaded = load_config(None, text=text, env={"WIRE_PASSWORD": SECRET, "WIRE_KEY": "k1"})
    (feed,) = loaded.config.feeds
    auth = request_auth(feed)
    assert auth is not None
    assert auth.origin == "https://wire.example:443"
    assert (auth.username, auth.password) == ("analyst", SECRET)
    assert auth.headers == (("X-Api-Key", "k1"),)
    assert SECRET not in repr(loaded.config)
    assert "k1" not in repr(loaded.config)
    settings = pipeline_settings(loaded, "me")
    assert settings.feed_auth == {"Wire": auth}


def test_a_feed_without_credentials_has_no_request_auth() -> None:
    (feed,) = load_config(None, text=BASE, env={}).config.feeds
    assert request_auth(feed) is None


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ("    password: x\n", "feeds[0]: password: needs a username"),
        ("    username: 'a:b'\n", "feeds[0].username: must be non-empty, without ':'"),
        ("    username: ''\n", "feeds[0].username: must be non-empty"),
        ("    headers: {Host: x}\n", "feeds[0].headers: Host is set by the fetcher itself"),
        (
            "    headers: {If-None-Match: x}\n",
            "feeds[0].headers: If-None-Match is set by the fetcher itself",
        ),
        ("    headers: {'Bad Name': x}\n", "feeds[0].headers: 'Bad Name' is not a valid header"),
        (
            '    headers: {X-Key: "a\\r\\nInjected: 1"}\n',
            "feeds[0].headers: X-Key: control characters in the value",
        ),
        (
            '    headers: {X-Key: "cl\u00e9"}\n',
            "feeds[0].headers: X-Key: non-ASCII characters in the value",
        ),
        (
            "    username: u\n    headers: {Authorization: Bearer t}\n",
            "feeds[0]: username and an Authorization header: choose one",
        ),
    ],
)
def test_config_rejects_bad_credentials(extra: str, expected: str) -> None:
    found = problems(extra)
    assert any(p.startswith(expected) for p in found), found


def test_config_errors_never_echo_secret_values() -> None:
    found = problems('    headers: {X-Key: "top-secret\\r\\n"}\n')
    assert found
    assert not any("top-secret" in p for p in found)


def test_unset_password_variable_is_reported() -> None:
    found = problems("    username: analyst\n    password: ${WIRE_PASSWORD}\n")
    assert any("WIRE_PASSWORD is not set" in p for p in found), found


# -- a poll ----------------------------------------------------------------------------


async def test_poll_of_a_protected_feed_stores_its_articles(
    store: Store, server: LocalServer
) -> None:
    server.route("/feed", protected("analyst", SECRET))  # type: ignore[arg-type]
    store.sync_feeds(
        [FeedSpec("wire", server.url("/feed")), FeedSpec("open", server.url("/feed"))],
        datetime.now(UTC),
    )
    auth = {"wire": RequestAuth(origin_of(server.url("/")), username="analyst", password=SECRET)}
    async with local_poller(store, PipelineSettings(owner="t", feed_auth=auth)) as poller:
        feeds = await poller.claim(10, names=["wire", "open"], force=True)
        outcomes = {f.name: await poller.poll(f) for f in feeds}
    assert (outcomes["wire"].outcome, outcomes["wire"].new) == ("ok", 1)
    assert outcomes["open"].outcome == "failed"
    states = {s.name: s for s in Archive(store.engine).feeds(polls_per_feed=1)}
    (last,) = states["open"].recent_polls
    assert last.error is not None
    assert "needs credentials" in last.error
    assert SECRET not in (last.error or "")


@pytest.mark.parametrize(
    "url", ["https://analyst:s3cret@wire.example/feed", "https://${WIRE_LOGIN}@wire.example/feed"]
)
def test_a_feed_url_with_credentials_is_refused_without_echoing_them(url: str) -> None:
    # Stored in the database, exported in OPML, logged: no place for a password.
    text = f"feeds:\n  - name: Wire\n    url: {url}\n"
    with pytest.raises(ConfigError) as err:
        load_config(None, text=text, env={"WIRE_LOGIN": "analyst:s3cret"})
    (problem,) = err.value.problems
    assert problem.startswith("feeds[0].url: a user name or password in the URL")
    assert "username and password keys" in problem
    assert "s3cret" not in problem


async def test_topic_backfill_sends_the_articles_own_feeds_login(
    store: Store, server: LocalServer
) -> None:
    from aggregator.process.consumer import Consumer
    from aggregator.query import parse_query

    def feed_with(guid: str, path: str) -> bytes:
        return (
            f'<rss version="2.0"><channel><title>Wire</title><item><title>North Korean troops '
            f"{guid}</title><guid>{guid}</guid><link>{server.url(path)}</link>"
            f"<description>Wire copy.</description></item></channel></rss>"
        ).encode()

    # Two desks of one site, each with its own login; the pages are on that same origin.
    server.static("/a.xml", feed_with("a1", "/page/a1"), content_type="application/rss+xml")
    server.static("/b.xml", feed_with("b1", "/page/b1"), content_type="application/rss+xml")
    page = b"<html><body><article><p>" + b"Troops were seen near Kursk. " * 20
    page += b"</p></article></body></html>"
    server.static("/page/a1", page, content_type="text/html")
    server.static("/page/b1", page, content_type="text/html")
    store.sync_feeds(
        [FeedSpec("desk-a", server.url("/a.xml")), FeedSpec("desk-b", server.url("/b.xml"))],
        datetime.now(UTC),
    )
    origin = origin_of(server.url("/"))
    auth = {
        "desk-a": RequestAuth(origin, username="alice", password=SECRET),
        "desk-b": RequestAuth(origin, username="bob", password=SECRET + "-b"),
    }
    async with local_poller(store, PipelineSettings(owner="t", feed_auth=auth)) as poller:
        for feed in await poller.claim(10, names=["desk-a", "desk-b"], force=True):
            await poller.poll(feed)
        Consumer(store, topics={"nk": parse_query('"north korean"')}, rules=[]).process_pending()
        assert await poller.backfill_fulltext(["nk"], datetime.now(UTC) - timedelta(days=1)) == 2
    (a_req,) = server.requests_for("/page/a1")
    (b_req,) = server.requests_for("/page/b1")
    assert a_req.header("authorization") == basic("alice", SECRET)
    assert b_req.header("authorization") == basic("bob", SECRET + "-b")
