"""``make demo``: the replay, a mailbox and the real daemon, started and stopped together.

The daemon runs as its own process (``aggregator run``) on a configuration written
into the work folder, against a fresh SQLite database there, exactly as a user would
run it; this process owns the replay and the mailbox, reports what the daemon's API
says every few seconds, and on Ctrl-C (or SIGTERM) stops the daemon first, then the
servers it was polling, so nothing is left running and nothing logs a failure against
a server that went away first. The daemon stays in this process's group: a Ctrl-C in
the terminal reaches both (the daemon starts its own clean shutdown, this process waits
for it), and whatever kills the group kills the daemon too, never leaving it orphaned.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from aggregator.api.server import serve
from aggregator.compose import load_config
from aggregator.demo.data import last_step, load_items, outlets, slug
from aggregator.demo.replay import Clock, create_replay_app, read_mailbox, start_smtp
from aggregator.errors import AggregatorError

DEVELOPING_TOPIC = "Earthquakes"
# The daemon logs this line once its web page listens (it picks a free port: 0).
_LISTENING = re.compile(r"API and web page on (http://\S+/)")
# How long the daemon gets to stop on SIGTERM (its own grace is 7 s) before SIGKILL.
_STOP_TIMEOUT = 20.0
# Environment that would point the daemon elsewhere than the demo's own files.
_FOREIGN_ENV = ("AGGREGATOR_DATABASE_URL", "AGGREGATOR_CONFIG", "NOTIFY_SOCKET", "WATCHDOG_USEC")


@dataclass(frozen=True, slots=True)
class DemoSettings:
    data: Path
    workdir: Path
    step_seconds: float = 8.0  # between two releases of the developing stories
    duration: float | None = None  # stop by itself after this many seconds
    report_every: float = 5.0


def demo_config(
    feeds: list[tuple[str, str]],
    *,
    database_url: str,
    smtp_port: int,
    step_seconds: float,
) -> str:
    """The demo's feeds.yaml: the outlets, topics, and two rules mailing the mailbox.

    Polls are far more frequent than a real deployment's (every step or so) so the
    stories visibly grow; the replay runs on this machine, so nobody is bothered.
    """
    poll = max(1.0, step_seconds / 2)
    lines = [
        "# Written by `make demo` (aggregator.demo); rewritten on every run.",
        "settings:",
        f"  database_url: {database_url}",
        "  poll:",
        "    tick: 1s",
        f"    min_interval: {poll:g}s",
        f"    default_interval: {poll:g}s",
        f"    max_interval: {max(2.0, step_seconds):g}s",
        "    jitter: 0",
        "    allow_private_networks: true  # the replay is on 127.0.0.1",
        "    per_host_min_gap: 0s",
        "    per_host_connections: 12",
        "    parse_workers: 1",
        "  http:",
        "    host: 127.0.0.1",
        "    port: 0  # any free port; the demo prints it",
        "    title: News monitor demo",
        "  delivery:",
        "    tick: 1s",
        "feeds:",
    ]
    for name, url in feeds:
        lines += [f"  - name: {name}", f"    url: {url}"]
    lines += [
        "topics:",
        f"  - name: {DEVELOPING_TOPIC}",
        "    query: earthquake OR quake OR tsunami OR aftershock*",
        "  - name: Chips",
        "    query: AMD OR Intel OR SeaMicro OR chipmaker*",
        "  - name: Browser security",
        "    query: '\"internet explorer\" OR (microsoft AND patch*)'",
        "  - name: Arrests",
        "    query: arrested OR arrest OR DUI",
        "channels:",
        "  - name: demo-mailbox",
        "    type: email",
        "    host: 127.0.0.1",
        f"    port: {smtp_port}",
        "    security: none  # the demo's own local mailbox",
        "    from: monitor@demo.invalid",
        "    to: [you@demo.invalid]",
        "alerts:",
        "  - name: Quake reported widely",
        f"    topic: {DEVELOPING_TOPIC}",
        "    trigger: min_sources",
        "    min_sources: 3",
        "    channels: [demo-mailbox]",
        "  - name: New chip story",
        "    topic: Chips",
        "    trigger: new_event",
        "    channels: [demo-mailbox]",
    ]
    return "\n".join(lines) + "\n"


def daemon_env(environ: dict[str, str]) -> dict[str, str]:
    """The environment for the demo's daemon: the user's, minus what would point it at
    another database, configuration or service manager."""
    return {k: v for k, v in environ.items() if k not in _FOREIGN_ENV}


def _fresh_workdir(workdir: Path) -> None:
    """Remove what an earlier run left (only the files the demo itself writes)."""
    workdir.mkdir(parents=True, exist_ok=True)
    for name in ("demo.db", "demo.db-wal", "demo.db-shm", "demo.db.lock", "feeds.yaml"):
        with contextlib.suppress(FileNotFoundError):
            (workdir / name).unlink()
    shutil.rmtree(workdir / "mail", ignore_errors=True)


@dataclass
class _Progress:
    """What was last reported, so only changes are printed."""

    line: str = ""
    mails: int = 0
    finished: bool = False


def _count(n: object, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


async def _report(
    client: httpx.AsyncClient,
    web: str,
    clock: Clock,
    maildir: Path,
    progress: _Progress,
    say: Callable[[str], None],
    started: float,
) -> None:
    try:
        events = (await client.get(f"{web}api/v1/events", params={"limit": 200})).json()
        quake = (await client.get(f"{web}api/v1/events", params={"topic": DEVELOPING_TOPIC})).json()
    except (httpx.HTTPError, ValueError):
        return  # the daemon is starting or stopping: the next report will tell
    if not isinstance(events, list) or not isinstance(quake, list):
        return
    wide = sum(1 for e in events if e.get("outlet_count", 0) >= 2)
    story = ""
    if quake:
        top = max(quake, key=lambda e: e.get("article_count", 0))
        articles, sources = top.get("article_count", 0), top.get("outlet_count", 0)
        story = (
            f"; developing story: {_count(articles, 'article')} from "
            f"{_count(sources, 'outlet')} ({web}events/{top.get('id')})"
        )
    mails = read_mailbox(maildir)
    line = (
        f"step {clock.step()}/{clock.final}: {_count(len(events), 'event')}, {wide} carried "
        f"by 2+ outlets{story}; mailbox: {_count(len(mails), 'alert')}"
    )
    if line != progress.line:
        say(f"[{time.monotonic() - started:4.0f}s] {line}")
        progress.line = line
    for mail in reversed(mails[: len(mails) - progress.mails]):
        say(f"       alert received: {mail.subject}")
    progress.mails = len(mails)
    if clock.finished() and not progress.finished:
        progress.finished = True
        say("       the replay has released every item; Ctrl-C stops the demo")


async def run_demo(settings: DemoSettings, say: Callable[[str], None] = print) -> int:
    """Run until Ctrl-C/SIGTERM (or ``duration``); 0 on a clean stop, 1 if the daemon
    failed. Raises ConfigError for a bad data file."""
    items = load_items(settings.data)
    workdir = settings.workdir.resolve()
    _fresh_workdir(workdir)
    maildir = workdir / "mail"
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    clock = Clock(settings.step_seconds, last_step(items))
    smtp = await start_smtp(maildir)
    smtp_port = smtp.sockets[0].getsockname()[1]
    replay_stop = asyncio.Event()
    replay_port: asyncio.Future[int] = loop.create_future()
    app = create_replay_app(items, clock=clock, maildir=maildir)
    replay = asyncio.create_task(
        serve(app, "127.0.0.1", 0, stop=replay_stop, on_ready=replay_port.set_result)
    )
    daemon: asyncio.subprocess.Process | None = None
    watcher: asyncio.Task[None] | None = None
    try:
        base = f"http://127.0.0.1:{await replay_port}"
        feeds = [(name, f"{base}/feeds/{slug(name)}.xml") for name in outlets(items)]
        config = workdir / "feeds.yaml"
        config.write_text(
            demo_config(
                feeds,
                database_url=f"sqlite:///{workdir / 'demo.db'}",
                smtp_port=smtp_port,
                step_seconds=settings.step_seconds,
            ),
            encoding="utf-8",
        )
        load_config(config, env={})  # ours: a problem here is a bug, say so before starting
        log_path = workdir / "daemon.log"
        daemon = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "aggregator.cli",
            "--config",
            str(config),
            "run",
            env=daemon_env(dict(os.environ)),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        web_url: asyncio.Future[str] = loop.create_future()
        watcher = asyncio.create_task(_copy_log(daemon, log_path, web_url))
        stopped = asyncio.create_task(stop.wait())
        waiting: list[asyncio.Future[Any]] = [stopped, web_url, watcher]
        await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
        stopped.cancel()
        if not web_url.done():
            if stop.is_set():
                return 0
            say(f"the daemon stopped before serving its page; its log ({log_path}):")
            say(_tail(log_path))
            return 1
        web = web_url.result()
        clock.begin()
        say(
            f"\nDemo running: {len(feeds)} outlets replayed from {base}/\n"
            f"  web page:  {web}\n"
            f"  API:       {web}api/v1/events\n"
            f"  mailbox:   {base}/mailbox  (Maildir: {maildir})\n"
            f"  config:    {config}\n"
            f"  daemon log: {log_path}\n"
            f"A story develops every {settings.step_seconds:g}s for {clock.final} steps; "
            "Ctrl-C stops everything.\n"
        )
        started = time.monotonic()
        progress = _Progress()
        async with httpx.AsyncClient(timeout=5, trust_env=False) as client:
            while not stop.is_set():
                if daemon.returncode is not None:
                    say(f"the daemon exited ({daemon.returncode}); its log ({log_path}):")
                    say(_tail(log_path))
                    return 1
                await _report(client, web, clock, maildir, progress, say, started)
                if settings.duration is not None and time.monotonic() - started >= (
                    settings.duration
                ):
                    break
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), settings.report_every)
        say("stopping the demo …")
        return 0
    finally:
        if daemon is not None:
            await _stop(daemon)
        if watcher is not None:
            await watcher
        replay_stop.set()
        await asyncio.wait([replay], timeout=10)
        smtp.close()
        await smtp.wait_closed()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


async def _copy_log(
    daemon: asyncio.subprocess.Process, path: Path, web_url: asyncio.Future[str]
) -> None:
    """Copy the daemon's log into the work folder, watching for its web page's address."""
    assert daemon.stderr is not None
    with path.open("w", encoding="utf-8") as log:
        async for raw in daemon.stderr:
            line = raw.decode("utf-8", "replace")
            log.write(line)
            log.flush()
            match = _LISTENING.search(line)
            if match and not web_url.done():
                web_url.set_result(match.group(1))


async def _stop(daemon: asyncio.subprocess.Process) -> None:
    """SIGTERM (the daemon's clean shutdown), then SIGKILL if it hangs."""
    if daemon.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            daemon.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(daemon.wait(), _STOP_TIMEOUT)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                daemon.kill()
            await daemon.wait()


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(encoding="utf-8").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def default_data() -> Path:
    """The sample data of a source checkout: demo/data/items.jsonl beside the package."""
    return Path(__file__).resolve().parents[2] / "demo" / "data" / "items.jsonl"


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m aggregator.demo",
        description="Replay a dozen sample outlets on 127.0.0.1 and run the daemon on them.",
    )
    parser.add_argument("--data", type=Path, default=default_data(), help="items (JSON lines)")
    parser.add_argument(
        "--workdir", type=Path, default=Path(".demo"), help="database, config, mail (./.demo)"
    )
    parser.add_argument(
        "--step", type=float, default=8.0, help="seconds between releases (default 8)"
    )
    parser.add_argument("--duration", type=float, help="stop after this many seconds")
    parser.add_argument("--report-every", type=float, default=5.0, help="seconds (default 5)")
    args = parser.parse_args(argv)
    if args.step <= 0 or args.report_every <= 0:
        parser.error("--step and --report-every must be positive")
    settings = DemoSettings(
        data=args.data,
        workdir=args.workdir,
        step_seconds=args.step,
        duration=args.duration,
        report_every=args.report_every,
    )
    try:
        return asyncio.run(run_demo(settings, say=_say))
    except ImportError as exc:
        print(f"the demo needs {exc.name}: run `make demo` (it installs it)", file=sys.stderr)
        return 1
    except AggregatorError as exc:
        print(f"demo: {exc}", file=sys.stderr)
        return 1


def _say(line: str) -> None:
    print(line, flush=True)
