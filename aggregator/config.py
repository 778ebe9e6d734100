"""feeds.yaml → validated, frozen settings.

Every problem in the file is reported at once, each with its path
(``feeds[3].url: …``), and nothing starts on an invalid file. Secrets are written as
``${ENV_VAR}`` (or ``${ENV_VAR:-default}``) and substituted from the environment handed
in, so they never need to sit in the file or the database.

The result is a tree of frozen pydantic models; callers receive it as an argument,
nothing reads it from a global.
"""

from __future__ import annotations

import copy
import math
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from aggregator.errors import ConfigError
from aggregator.links import http_url_problem

DEFAULT_DATABASE_URL = "sqlite:///data/aggregator.db"
DATABASE_URL_ENV = "AGGREGATOR_DATABASE_URL"

_DURATION_RE = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)")
_DURATION_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(B|KB|KiB|MB|MiB|GB|GiB)?\s*$", re.IGNORECASE)
_SIZE_UNITS = {
    "b": 1,
    "kb": 1000,
    "kib": 1024,
    "mb": 1000**2,
    "mib": 1024**2,
    "gb": 1000**3,
    "gib": 1024**3,
}
_ENV_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
# Beyond a century a duration is a typo (`1e9d`), and it would overflow the timedelta
# and the scheduler built from it when the daemon starts, past `config check`.
_MAX_DURATION = 100 * 365 * 86400.0
# YAML aliases share nodes: a few lines of nested anchors (a "billion laughs") stand for
# a tree of 10**9 values that the substitution and the validation would both walk.
# A real feeds.yaml has a few thousand values.
_MAX_VALUES = 1_000_000


def parse_duration(value: object) -> float:
    """``"90s"``, ``"5m"``, ``"1h30m"``, ``"2d"`` or a number of seconds → seconds."""
    if isinstance(value, bool):
        raise ValueError("expected a duration like '30s', '5m', '1h30m' or a number of seconds")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip().lower()
        pos = 0
        seconds = 0.0
        for m in _DURATION_RE.finditer(text):
            if m.start() != pos and text[pos : m.start()].strip():
                break
            seconds += float(m.group(1)) * _DURATION_UNITS[m.group(2)]
            pos = m.end()
        if pos == 0 or text[pos:].strip():
            raise ValueError(f"bad duration {value!r}: use e.g. '30s', '5m', '1h30m', '2d'")
    else:
        raise ValueError("expected a duration like '30s', '5m', '1h30m' or a number of seconds")
    if not math.isfinite(seconds):
        raise ValueError(f"bad duration {value!r}: not a finite number")
    if seconds < 0:
        raise ValueError("a duration cannot be negative")
    if seconds > _MAX_DURATION:
        raise ValueError(f"bad duration {value!r}: longer than 100 years")
    return seconds


def parse_positive_duration(value: object) -> float:
    """A duration that must be above zero: a tick, a lease or a timeout of 0s is a busy
    loop, a claim that expires as it is taken (work done twice), or no time at all."""
    seconds = parse_duration(value)
    if seconds <= 0:
        raise ValueError("must be a positive duration")
    return seconds


def parse_size(value: object) -> int:
    """``"10MiB"``, ``"500 KB"`` or a number of bytes → bytes."""
    if isinstance(value, int) and not isinstance(value, bool):
        if value <= 0:
            raise ValueError("a size must be positive")
        return value
    if isinstance(value, str):
        m = _SIZE_RE.match(value)
        if m:
            size = int(float(m.group(1)) * _SIZE_UNITS[(m.group(2) or "b").lower()])
            # "0" or "0.1B" round to nothing: a body cap of 0 refuses every feed.
            if size <= 0:
                raise ValueError(f"bad size {value!r}: must be at least one byte")
            return size
    raise ValueError(f"bad size {value!r}: use e.g. '10MiB', '500KB' or a number of bytes")


Duration = Annotated[float, BeforeValidator(parse_duration)]
PositiveDuration = Annotated[float, BeforeValidator(parse_positive_duration)]
Size = Annotated[int, BeforeValidator(parse_size)]


def _check_http_url(value: str) -> str:
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) URL: {value!r}")
    # As the fetcher will use it: a URL accepted here and refused by httpx at every
    # poll (256.0.0.1, a NUL or TAB) would fail for ever.
    problem = http_url_problem(value.strip())
    if problem is not None:
        raise ValueError(f"{problem}: {value.strip()!r}"[:400])
    return value.strip()


HttpUrl = Annotated[str, BeforeValidator(lambda v: _check_http_url(str(v)))]


def _check_feed_url(value: str) -> str:
    # The URL is stored in the database, exported in OPML and logged: a password in it
    # would leak everywhere. The message must not repeat it.
    if "@" in urlsplit(value.strip()).netloc:
        raise ValueError(
            "a user name or password in the URL is not allowed (it would be stored, "
            "exported and logged); use the feed's username and password keys, "
            "e.g. password: ${FEED_PASSWORD}"
        )
    return _check_http_url(value)


FeedUrl = Annotated[str, BeforeValidator(lambda v: _check_feed_url(str(v)))]
Name = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f]+$")]


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PollSettings(_Frozen):
    """How often and how politely feeds are polled."""

    tick: PositiveDuration = 15.0
    min_interval: PositiveDuration = 300.0
    max_interval: PositiveDuration = 86400.0
    default_interval: PositiveDuration = 3600.0
    jitter: float = Field(default=0.1, ge=0, le=0.5)
    concurrency: int = Field(default=100, ge=1, le=2000)
    per_host_connections: int = Field(default=2, ge=1, le=50)
    per_host_min_gap: Duration = 1.0
    connect_timeout: PositiveDuration = 10.0
    read_timeout: PositiveDuration = 30.0
    total_timeout: PositiveDuration = 60.0
    max_body: Size = 10 * 1024 * 1024
    max_redirects: int = Field(default=5, ge=0, le=20)
    error_backoff_base: PositiveDuration = 600.0
    error_backoff_cap: PositiveDuration = 86400.0
    broken_after: int = Field(default=10, ge=1)
    lease: PositiveDuration = 300.0
    manual_gap: Duration = 300.0  # `poll --feed X` skips feeds polled this recently
    allow_private_networks: bool = False
    # Parse processes beside the daemon; "auto" chooses from the cores and the feeds
    # (aggregator.workers.parse_workers_for: none, i.e. parsing in the daemon's
    # threads, on two cores or fewer and below 1,000 feeds). Each process holds its own
    # copy of the parsing stack: 60-70 MiB (issue 17).
    parse_workers: Annotated[int, Field(ge=0, le=64)] | Literal["auto"] = "auto"
    batch: int = Field(default=200, ge=1, le=10000)


class HttpSettings(_Frozen):
    """The daemon's own HTTP API and web page."""

    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    # Bearer token for the write endpoints (add/remove a feed, retry an alert); without
    # one they are off. Put it in the environment: token: ${AGGREGATOR_API_TOKEN}
    token: str | None = Field(default=None, repr=False)
    base_url: str | None = None  # absolute base for links in Atom output (behind a proxy)
    # Host names a proxy forwards under, beside the bind address, localhost and
    # base_url's host: requests with any other Host header are refused (421).
    allowed_hosts: list[str] = []
    title: str = "News monitor"


class FeedConfig(_Frozen):
    name: Name
    url: FeedUrl
    interval: Duration | None = None
    fulltext: bool = False
    enabled: bool = True
    tags: tuple[str, ...] = ()
    # A private or paid feed's credentials (HTTP Basic) and extra request headers (an
    # API key, a cookie). Put secrets in the environment: password: ${WIRE_PASSWORD}.
    # They are sent to the feed's own origin only, never across a redirect.
    username: str | None = None
    password: str | None = Field(default=None, repr=False)
    headers: dict[str, str] = Field(default_factory=dict, repr=False)
    # Entry filters, in the query language of topics: keep only the entries that
    # match `include`, drop those that match `exclude` (sport, horoscopes, a section
    # of a general feed). Dropped entries are not stored, so they never reach the
    # archive, the clusters or an alert.
    include: str | None = None
    exclude: str | None = None

    @field_validator("username")
    @classmethod
    def _check_username(cls, v: str | None) -> str | None:
        if v is not None and (":" in v or _has_controls(v) or not v):
            raise ValueError("must be non-empty, without ':' or control characters")
        return v

    @model_validator(mode="after")
    def _check_auth(self) -> FeedConfig:
        if self.password is not None and self.username is None:
            raise ValueError("password: needs a username")
        if self.username is not None and any(
            name.lower() == "authorization" for name in self.headers
        ):
            raise ValueError("username and an Authorization header: choose one")
        return self


def _has_controls(value: str) -> bool:
    return any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value)


class TopicConfig(_Frozen):
    name: Name
    query: str = Field(min_length=1)
    # Fetch the page text of articles matching this topic (their feeds' own text
    # otherwise); done after matching, politely, for matches of the last two days.
    fulltext: bool = False
    description: str | None = None

    @field_validator("query")
    @classmethod
    def _strip(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("the query is empty")
        return v.strip()


class EmailChannelConfig(_Frozen):
    """An SMTP destination. Put the password in the environment: ``${SMTP_PASSWORD}``."""

    name: Name
    type: Literal["email"]
    host: str = Field(min_length=1)
    port: int = Field(default=587, ge=1, le=65535)
    security: Literal["starttls", "tls", "none"] = "starttls"
    username: str | None = None
    password: str | None = Field(default=None, repr=False)
    sender: str = Field(alias="from", min_length=3)
    to: tuple[str, ...] = Field(min_length=1)
    timeout: PositiveDuration = 30.0
    ca_file: str | None = None

    @field_validator("sender", "to")
    @classmethod
    def _addresses(cls, v: str | tuple[str, ...]) -> str | tuple[str, ...]:
        for addr in (v,) if isinstance(v, str) else v:
            if "@" not in addr or any(c.isspace() for c in addr.strip()):
                raise ValueError(f"not an email address: {addr!r}")
        return v


class WebhookChannelConfig(_Frozen):
    """A webhook endpoint signed per Standard Webhooks; ``secret`` is ``whsec_…``."""

    name: Name
    type: Literal["webhook"]
    url: HttpUrl
    secret: str = Field(min_length=8, repr=False)
    timeout: PositiveDuration = 15.0
    # Usually a receiver's bearer token: kept out of reprs and logs.
    headers: dict[str, str] = Field(default_factory=dict, repr=False)


class AppriseChannelConfig(_Frozen):
    """Chat and push services through Apprise (Telegram, Slack, Discord, Matrix, ntfy,
    Gotify, Pushover, Teams …): one or more Apprise URLs. They usually hold a token:
    put them in the environment, ``urls: ["${SLACK_URL}"]``."""

    name: Name
    type: Literal["apprise"]
    urls: tuple[str, ...] = Field(min_length=1, repr=False)
    timeout: PositiveDuration = 30.0


ChannelConfig = Annotated[
    EmailChannelConfig | WebhookChannelConfig | AppriseChannelConfig,
    Field(discriminator="type"),
]
AnyChannelConfig = EmailChannelConfig | WebhookChannelConfig | AppriseChannelConfig


class AlertRuleConfig(_Frozen):
    """When to tell whom about a topic. ``trigger``: new_event (one alert per new event),
    min_sources (when N distinct outlets carry a matching event), every_article, digest
    (one message per ``schedule`` tick, a five-field cron in ``timezone``), developing
    (min_sources, then again each time the event grows by ``new_outlets`` outlets or
    ``new_articles`` articles, at most once per ``min_gap``), feed_health (no topic: a
    feed broke, went away, fell quiet or recovered)."""

    name: Name
    topic: str = ""
    trigger: Literal[
        "new_event", "min_sources", "every_article", "digest", "developing", "feed_health"
    ] = "new_event"
    channels: tuple[str, ...] = Field(min_length=1)
    min_sources: int = Field(default=3, ge=1)
    schedule: str | None = None
    timezone: str = "UTC"
    throttle: Duration | None = None
    quiet_hours: str | None = None  # "22:00-07:00" local to `timezone`
    max_per_hour: int | None = Field(default=None, ge=1)
    enabled: bool = True
    # developing
    new_outlets: int | None = Field(default=None, ge=1)
    new_articles: int | None = Field(default=None, ge=1)
    min_gap: PositiveDuration | None = None  # default 1h
    # feed_health
    quiet_factor: float | None = Field(default=None, ge=1, le=1000)  # default 5
    quiet_min: PositiveDuration | None = None  # default 24h


# The clusterer's and the duplicate detector's sections are their own settings
# (ClusterSettings, DedupSettings): the stages define the keys, their types, defaults
# and limits, and compose checks a section against them (``stage_problems``), so each
# is defined once. Here they are only a mapping.
StageSection = dict[str, Any]


class DeliverySettings(_Frozen):
    """How the outbox is worked."""

    tick: PositiveDuration = 5.0
    lease: PositiveDuration = 120.0
    max_attempts: int = Field(default=16, ge=1)
    max_age: PositiveDuration = 172800.0
    concurrency: int = Field(default=8, ge=1, le=100)
    # How often feed_health rules look at every feed (each look reads the feeds' recent
    # entries): a minute is plenty for alerts about failure streaks and hours of silence.
    feed_health_every: PositiveDuration = 60.0


class RetentionSettings(_Frozen):
    """What the daemon forgets, checked every ``interval``.

    ``polls``: poll history older than this goes, but each feed keeps its
    ``polls_per_feed`` newest. ``articles``: unset keeps the archive forever; a
    duration deletes each event whose last report is older, with its articles, and
    stops older entries from being stored again when a feed still lists them.
    """

    polls: Duration = 30 * 86400.0
    polls_per_feed: int = Field(default=20, ge=1, le=10000)
    articles: Duration | None = None
    interval: Duration = 3600.0


class Settings(_Frozen):
    database_url: str | None = None
    contact: str | None = None  # appended to the User-Agent, e.g. an email or URL
    poll: PollSettings = PollSettings()
    http: HttpSettings = HttpSettings()
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    delivery: DeliverySettings = DeliverySettings()
    clustering: StageSection = Field(default_factory=dict)
    dedup: StageSection = Field(default_factory=dict)
    retention: RetentionSettings = RetentionSettings()


class Config(_Frozen):
    settings: Settings = Settings()
    feeds: tuple[FeedConfig, ...] = ()
    topics: tuple[TopicConfig, ...] = ()
    channels: tuple[ChannelConfig, ...] = ()
    alerts: tuple[AlertRuleConfig, ...] = ()

    def channel(self, name: str) -> AnyChannelConfig | None:
        return next((c for c in self.channels if c.name == name), None)

    def feed(self, name: str) -> FeedConfig | None:
        return next((f for f in self.feeds if f.name == name), None)


@dataclass(frozen=True, slots=True)
class LoadedConfig:
    config: Config
    path: Path | None
    database_url: str
    # Sections read past (``load_config(leave_out=…)``): absent from ``config``,
    # neither validated nor their ``${VARS}`` substituted.
    left_out: tuple[str, ...] = ()
    # Channels whose secret is not in the environment (``defer_channels``): left out of
    # ``config.channels``, with why — (name, "channels[1].secret: environment …").
    unavailable_channels: tuple[tuple[str, str], ...] = ()


def _format_loc(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


def _substitute_env(
    node: Any,
    env: Mapping[str, str],
    path: str,
    problems: list[str],
    lenient: Sequence[str] = (),
    deferred: list[str] | None = None,
) -> Any:
    """``${VAR}`` → its value. A variable that is not set is a problem, except under the
    ``lenient`` paths, where its message goes to ``deferred`` (see ``load_config``)."""
    if isinstance(node, str):

        def repl(m: re.Match[str]) -> str:
            name, default = m.group(1), m.group(2)
            if name in env:
                return env[name]
            if default is not None:
                return default
            message = f"{path or '(top level)'}: environment variable {name} is not set"
            if deferred is not None and any(_within(path, p) for p in lenient):
                deferred.append(message)
            else:
                problems.append(message)
            return ""

        return _ENV_RE.sub(repl, node)
    if isinstance(node, list):
        return [
            _substitute_env(v, env, f"{path}[{i}]", problems, lenient, deferred)
            for i, v in enumerate(node)
        ]
    if isinstance(node, dict):
        return {
            k: _substitute_env(
                v, env, f"{path}.{k}" if path else str(k), problems, lenient, deferred
            )
            for k, v in node.items()
        }
    return node


def _within(path: str, prefix: str) -> bool:
    """Whether ``path`` is ``prefix`` or inside it (``channels[1].secret`` is inside
    ``channels`` and ``channels[1]``, not inside ``channel``)."""
    return path == prefix or path.startswith((prefix + ".", prefix + "["))


def _too_many_values(node: Any) -> bool:
    """Whether the document, with its aliases expanded, holds more than _MAX_VALUES
    values; stops counting there, so a bomb costs no more than a large honest file."""
    stack, seen = [node], 0
    while stack:
        item = stack.pop()
        seen += 1
        if seen > _MAX_VALUES:
            return True
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def items_of(raw: Mapping[str, Any], section: str) -> list[Any]:
    """A section's entries, or none when it is not a list (the structural check reports
    ``feeds: Input should be a valid tuple``; the cross-checks must not crash on it)."""
    items = raw.get(section)
    return items if isinstance(items, list) else []


def _cross_checks(
    raw: Mapping[str, Any], problems: list[str], known_channels: Sequence[str] = ()
) -> None:
    """Checks that span entries: duplicate names and dangling references.

    They read the raw data so they run even when other parts of the file are invalid,
    and every problem comes out in one report.
    """
    names: dict[str, dict[str, int]] = {}
    for section in ("feeds", "topics", "channels", "alerts"):
        items = raw.get(section)
        if not isinstance(items, list):
            continue
        seen: dict[str, int] = {}
        for i, item in enumerate(items):
            if not isinstance(item, dict) or not isinstance(item.get("name"), str):
                continue
            name = item["name"]
            if name in seen:
                first = f"{section}[{seen[name]}]"
                problems.append(f"{section}[{i}].name: duplicate name {name!r} (first at {first})")
            else:
                seen[name] = i
        names[section] = seen
    urls: dict[str, int] = {}
    for i, item in enumerate(items_of(raw, "feeds")):
        if isinstance(item, dict) and isinstance(item.get("url"), str):
            url = item["url"].strip()
            if url in urls:
                problems.append(f"feeds[{i}].url: same URL as feeds[{urls[url]}]")
            else:
                urls[url] = i
    for i, rule in enumerate(items_of(raw, "alerts")):
        if not isinstance(rule, dict):
            continue
        topic = rule.get("topic")
        if rule.get("trigger") == "feed_health":
            pass  # watches feeds; rule_problems refuses a topic on it
        elif isinstance(topic, str) and topic not in names.get("topics", {}):
            problems.append(f"alerts[{i}].topic: unknown topic {topic!r}")
        for j, ch in enumerate(items_of(rule, "channels")):
            if isinstance(ch, str) and ch not in names.get("channels", {}) | dict.fromkeys(
                known_channels
            ):
                problems.append(f"alerts[{i}].channels[{j}]: unknown channel {ch!r}")


class _DuplicateKey(yaml.constructor.ConstructorError):
    """A mapping that names one key twice (carries both lines for the message)."""

    def __init__(self, key: object, first: yaml.Mark, again: yaml.Mark) -> None:
        super().__init__(problem=f"duplicate key {key!r}", problem_mark=again)
        self.key = key
        self.first = first
        self.again = again


def _refuse_duplicate_keys(
    loader: yaml.constructor.SafeConstructor, node: yaml.MappingNode
) -> None:
    """Raise _DuplicateKey when the mapping ``node`` names a key twice.

    YAML says keys are unique, but PyYAML quietly keeps the last value: a second
    ``feeds:`` (pasted in by hand, or appended by a tool that missed the first) would
    make every feed above it vanish without a word.
    """
    seen: dict[object, yaml.Mark] = {}
    for key_node, _ in node.value:
        # Merge keys (<<) may be repeated and overridden by design; only the
        # mapping's own keys must be unique.
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue
        key = loader.construct_object(key_node, deep=True)
        try:
            first = seen.get(key)
        except TypeError:  # unhashable: the parent constructor reports it
            continue
        if first is not None:
            raise _DuplicateKey(key, first, key_node.start_mark)
        seen[key] = key_node.start_mark


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate mapping keys (``_refuse_duplicate_keys``)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        _refuse_duplicate_keys(self, node)
        return super().construct_mapping(node, deep=deep)


# The same loader over libyaml's C parser, where PyYAML was built with it: the same
# constructor and resolver (plain Python, shared with _StrictLoader), so the same data;
# only scanning and parsing are in C, six times faster (the shipped feeds.yaml: 7 ms
# -> 1 ms; 500 feeds: 114 -> 17 ms, at every command's start; issue 17). It is only
# the fast path: a document it refuses is read again by _StrictLoader, whose messages
# (the C parser words its errors differently) are the ones users see.
# tests/test_config_yaml.py holds the two to the same data and the same errors.
_FastStrictLoader: type[yaml.SafeLoader] | None = None
# Where the two parsers disagree, the C one accepting what the pure one refuses (found
# by tests/test_config_yaml.py): a tab where YAML 1.1 allows none, a byte-order mark or
# a NEL/LS/PS line break inside the text, a comment straight after a block scalar's
# indicator (``|#``), an explicit key (``? ``) in a flow collection. A document with
# any of them is read by the pure parser alone.
_C_PARSER_DIFFERS = re.compile(r"[\t\ufeff\x85\u2028\u2029]|[|>][-+0-9]*#|\?(?:\s|$)")
if getattr(yaml, "__with_libyaml__", False):

    class _CStrictLoader(yaml.CSafeLoader):
        def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
            _refuse_duplicate_keys(self, node)
            return super().construct_mapping(node, deep=deep)

    _FastStrictLoader = _CStrictLoader  # type: ignore[assignment]


# A check the stages run on the substituted data, entry by entry, returning problems as
# "path: message". The stages own these rules (the query language, an alert rule, a
# channel's settings); ``aggregator.compose`` hands them in, so this module needs none
# of the stages and sits at the bottom of the import graph.
StageChecks = Callable[[Mapping[str, Any]], list[str]]


def load_config(
    path: str | Path | None,
    *,
    checks: StageChecks,
    env: Mapping[str, str] | None = None,
    text: str | None = None,
    leave_out: Sequence[str] = (),
    defer_channels: bool = False,
) -> LoadedConfig:
    """Read, substitute and validate a configuration; raise ConfigError with every problem.

    ``leave_out`` names sections (``channels``, ``settings.http``) a command does not
    use: they are dropped before substitution and validation, so reading the archive
    does not need the alert channels' secrets in the environment. Whatever does use
    them loads the whole file and gets the same message for a missing secret.

    ``defer_channels`` (the daemon): a channel whose secret is missing does not stop
    everything; it is left out and listed in ``unavailable_channels`` with the same
    message, so only the deliveries through it fail, saying why.

    ``checks`` has no default so that nothing loads a file the stages have not checked:
    the product calls ``aggregator.compose.load_config``, which passes them.
    """
    source = Path(path) if path is not None else None
    if text is None:
        if source is None:
            raise ConfigError(["no configuration file given"])
        try:
            text = source.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError([f"{source}: cannot read: {exc.strerror or exc}"]) from exc
        except UnicodeDecodeError as exc:
            raise ConfigError([f"{source}: not UTF-8 text: {exc.reason}"]) from exc
    return config_from_data(
        read_yaml(text),
        checks=checks,
        env=env,
        path=source,
        leave_out=leave_out,
        defer_channels=defer_channels,
    )


def read_yaml(text: str) -> Any:
    """The YAML document as plain data; ConfigError (with the line) on a syntax error
    or a key written twice in one mapping."""
    if _FastStrictLoader is not None and not _C_PARSER_DIFFERS.search(text):
        try:
            return yaml.load(text, Loader=_FastStrictLoader)  # a SafeLoader too
        except Exception:
            pass  # whatever it is, the pure parser reads it again below, and decides
    try:
        return yaml.load(text, Loader=_StrictLoader)  # a SafeLoader: no Python objects
    except _DuplicateKey as exc:
        raise ConfigError(
            [
                f"line {exc.again.line + 1}, column {exc.again.column + 1}: duplicate key "
                f"{exc.key!r} (first at line {exc.first.line + 1}); YAML would keep only "
                "the last one, so merge the two"
            ]
        ) from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError([f"{where}YAML syntax error: {problem}"]) from exc


def config_from_data(
    raw: Any,
    *,
    checks: StageChecks,
    env: Mapping[str, str] | None = None,
    path: Path | None = None,
    leave_out: Sequence[str] = (),
    defer_channels: bool = False,
) -> LoadedConfig:
    """Substitute and validate a configuration already read as data (``read_yaml``)."""
    env = os.environ if env is None else env
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(["(top level): expected a mapping with feeds, topics, alerts …"])

    if _too_many_values(raw):
        raise ConfigError(
            [
                f"(top level): more than {_MAX_VALUES:,} values once YAML aliases are "
                "expanded; write the entries out instead of nesting anchors"
            ]
        )
    # The whole file is checked whatever the command: only a secret missing from a
    # section it leaves out is let through (with what the empty stand-in upsets at the
    # same place), and then the file is read again without those sections.
    deferred: list[str] = []
    lenient = (*leave_out, "channels") if defer_channels else tuple(leave_out)
    loaded = _validated(raw, checks, env, path, lenient, deferred)
    if not deferred:
        assert loaded is not None
        return loaded
    left = [m for m in deferred if any(_within(_where(m), p) for p in leave_out)]
    reduced_raw = _without(raw, leave_out) if left else raw
    unavailable: dict[str, list[str]] = {}
    if len(left) < len(deferred):
        # What remains is under channels (defer_channels): leave those entries out, and
        # let the rules keep naming them.
        entries = items_of(raw, "channels")
        dropped: dict[int, list[str]] = {}
        for message in deferred:
            if message not in left:
                index = int(_where(message).split("]", 1)[0].removeprefix("channels["))
                dropped.setdefault(index, []).append(message)
        for index, messages in sorted(dropped.items()):
            unavailable[str(entries[index].get("name"))] = messages
        reduced_raw = {
            **reduced_raw,
            "channels": [c for i, c in enumerate(entries) if i not in dropped],
        }
    reduced = _validated(reduced_raw, checks, env, path, (), [], known_channels=tuple(unavailable))
    assert reduced is not None
    return replace(
        reduced,
        left_out=tuple(leave_out) if left else (),
        unavailable_channels=tuple((n, "; ".join(m)) for n, m in unavailable.items()),
    )


def _where(problem: str) -> str:
    return problem.partition(": ")[0]


def _validated(
    raw: dict[str, Any],
    checks: StageChecks,
    env: Mapping[str, str],
    path: Path | None,
    lenient: Sequence[str],
    deferred: list[str],
    known_channels: Sequence[str] = (),
) -> LoadedConfig | None:
    """The configuration, or ConfigError with its problems; None when the only problems
    are the ``deferred`` secrets' (missing under ``lenient``) and what they caused."""
    problems: list[str] = []
    raw = _substitute_env(raw, env, "", problems, lenient, deferred)
    _cross_checks(raw, problems, known_channels)
    # Run on the raw data, so their problems come out even when another part of the
    # file fails the structural check below.
    problems.extend(checks(raw))
    config: Config | None = None
    try:
        config = Config.model_validate(raw)
    except ValidationError as exc:
        for err in exc.errors():
            msg = err["msg"]
            if err["type"] == "extra_forbidden":
                msg = "unknown key"
            elif msg.startswith("Value error, "):
                msg = msg[len("Value error, ") :]
            loc = tuple(err["loc"])
            # A channel's errors carry its discriminator (channels[0].email.to): drop it.
            if len(loc) > 2 and loc[0] == "channels" and loc[2] in ("email", "webhook", "apprise"):
                loc = loc[:2] + loc[3:]
            problems.append(f"{_format_loc(loc)}: {msg}")
        # The cross-field checks need a validated configuration: run them on one with
        # the invalid values left out, so that every problem is reported at once, not
        # the next one after each fix (those about a left-out value are not repeated).
        partial, left_out = _without_invalid_values(raw, exc)
        if partial is not None:
            problems.extend(
                p for p in _semantic_checks(partial) if p.split(":", 1)[0] not in left_out
            )
    database_url = DEFAULT_DATABASE_URL
    if config is not None:
        problems.extend(_semantic_checks(config))
        database_url = (
            env.get(DATABASE_URL_ENV) or config.settings.database_url or DEFAULT_DATABASE_URL
        )
        where = DATABASE_URL_ENV if env.get(DATABASE_URL_ENV) else "settings.database_url"
        url_problem = _database_url_problem(database_url, where)
        if url_problem is not None:
            problems.append(url_problem)
    if deferred:
        paths = [_where(m) for m in deferred]
        problems = [p for p in problems if not _about(p, paths)]
    if problems:
        raise ConfigError(problems)
    if config is None or deferred:
        return None
    return LoadedConfig(config=config, path=path, database_url=database_url)


def _without_invalid_values(
    raw: dict[str, Any], exc: ValidationError
) -> tuple[Config | None, set[str]]:
    """The configuration validated with each invalid value removed (its default used),
    and the paths removed; (None, …) when removing values cannot make it valid (a
    required value is missing)."""
    data = copy.deepcopy(raw)
    left_out: set[str] = set()
    for _ in range(3):  # a removal can reveal nothing new; a few rounds at most
        for err in exc.errors():
            loc = tuple(err["loc"])
            if err["type"] == "missing" or not _remove(data, loc):
                return None, left_out
            left_out.add(_format_loc(loc))
        try:
            return Config.model_validate(data), left_out
        except ValidationError as again:
            exc = again
    return None, left_out


def _remove(data: Any, loc: tuple[int | str, ...]) -> bool:
    """Delete the mapping key at ``loc`` in ``data``; False when it is not one."""
    node = data
    for part in loc[:-1]:
        if isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
            continue
        if not (isinstance(node, dict) and part in node):
            return False
        node = node[part]
    if isinstance(node, dict) and loc and loc[-1] in node:
        del node[loc[-1]]
        return True
    return False


def _about(problem: str, paths: Sequence[str]) -> bool:
    """Whether a ``path: message`` problem is at one of ``paths``, inside or around it."""
    where = problem.partition(": ")[0]
    return any(_within(where, p) or _within(p, where) for p in paths)


def _without(raw: dict[str, Any], paths: Sequence[str]) -> dict[str, Any]:
    """``raw`` without the dotted ``paths`` (``channels``, ``settings.http``); copies
    only the mappings on the way, leaves the input as it was."""
    out = dict(raw)
    for dotted in paths:
        *parents, last = dotted.split(".")
        node = out
        for key in parents:
            child = node.get(key)
            if not isinstance(child, dict):
                break
            node[key] = node = dict(child)
        else:
            node.pop(last, None)
    return out


_MIN_ARTICLE_RETENTION = 7 * 86400.0


def _semantic_checks(config: Config) -> list[str]:
    problems = []
    p = config.settings.poll
    if p.min_interval > p.max_interval:
        problems.append("settings.poll.min_interval: larger than max_interval")
    for i, feed in enumerate(config.feeds):
        if feed.interval is not None and feed.interval < 60:
            problems.append(f"feeds[{i}].interval: below the 1-minute floor")
    r = config.settings.retention
    if r.articles is not None and r.articles < _MIN_ARTICLE_RETENTION:
        # Events still open in the clusterer's memory, and the originals that copies
        # are linked to, must outlive any window the stages look back over.
        problems.append("settings.retention.articles: below the 7-day floor")
    if r.polls < 86400:
        problems.append("settings.retention.polls: below the 1-day floor")
    if r.interval < 60:
        # Each run reads every feed's poll history: every second would be a busy loop.
        problems.append("settings.retention.interval: below the 1-minute floor")
    return problems


def _database_url_problem(url: str, where: str) -> str | None:
    """Why ``url`` cannot be the database, or None: caught here rather than as a
    traceback from the first command that opens it."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        backend = make_url(url).get_backend_name()
    except ArgumentError:
        return f"{where}: not a database URL: use sqlite:///PATH or postgresql+psycopg://…"
    if backend not in ("sqlite", "postgresql"):
        return f"{where}: unsupported database {backend!r}: use SQLite or PostgreSQL"
    return None
