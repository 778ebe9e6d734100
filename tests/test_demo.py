"""`make demo`: a shortened replay through the real runner, daemon, replay and mailbox,
stopped with a Ctrl-C (SIGINT), and the pure parts of the replay."""

from __future__ import annotations

import contextlib
import mailbox
import os
import re
import selectors
import signal
import socket
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from aggregator.compose import load_config
from aggregator.demo.data import (
    DemoItem,
    last_step,
    load_items,
    outlets,
    released,
    render_rss,
    slug,
)
from aggregator.demo.replay import current_step
from aggregator.demo.runner import DEVELOPING_TOPIC, daemon_env, default_data, demo_config
from aggregator.errors import ConfigError

DATA = default_data()


def _item(**kw: Any) -> DemoItem:
    base: dict[str, Any] = {"id": "x", "outlet": "A", "title": "t", "step": 0, "source": "ECB+"}
    return DemoItem(**(base | kw))


def test_bundled_data_has_a_dozen_outlets_a_backlog_and_developing_stories() -> None:
    items = load_items(DATA)
    assert len(outlets(items)) == 12
    backlog = [i for i in items if i.step == 0]
    later = [i for i in items if i.step > 0]
    assert len(backlog) > 50
    assert len(later) >= 10
    # The developing story spreads over several outlets, so `min_sources` can fire.
    assert len({i.outlet for i in later}) >= 3
    assert {i.source for i in items} == {"ECB+", "UCI"}
    assert (DATA.parent / "README.md").read_text().count("CC BY") >= 1


def test_released_lists_an_outlets_items_up_to_the_step_newest_first() -> None:
    items = (
        _item(id="old", age_minutes=60),
        _item(id="young", age_minutes=5),
        _item(id="s2", step=2),
        _item(id="s1", step=1),
        _item(id="other", outlet="B", step=1),
    )
    assert [i.id for i in released(items, "A", 0)] == ["young", "old"]
    assert [i.id for i in released(items, "A", 1)] == ["s1", "young", "old"]
    assert [i.id for i in released(items, "A", 9)] == ["s2", "s1", "young", "old"]
    assert last_step(items) == 2


def test_current_step_counts_whole_steps_and_stops_at_the_last() -> None:
    assert current_step(-1, 2, 5) == 0
    assert current_step(1.9, 2, 5) == 0
    assert current_step(2.0, 2, 5) == 1
    assert current_step(100, 2, 5) == 5


def test_rss_escapes_and_dates_items() -> None:
    start = datetime(2026, 1, 1, 12, tzinfo=UTC)
    items = [
        _item(id="a&b", title="<b>Bold</b> & co", text="One.\n\nTwo <i>", step=3),
        _item(id="u1", title="Linked", link="https://example.org/x", age_minutes=30),
    ]
    body = render_rss("Harbour & Herald", items, base="http://h", start=start, step_seconds=10)
    root = ET.fromstring(body)
    first, second = root.findall("./channel/item")
    assert first.findtext("title") == "<b>Bold</b> & co"
    assert first.findtext("link") == "http://h/articles/a%26b"
    assert first.findtext("description") == "<p>One.</p><p>Two &lt;i&gt;</p>"
    assert first.findtext("pubDate") == "Thu, 01 Jan 2026 12:00:30 GMT"
    assert second.findtext("link") == "https://example.org/x"
    assert second.findtext("pubDate") == "Thu, 01 Jan 2026 11:30:00 GMT"
    assert slug("Harbour & Herald") == "harbour-herald"


def test_a_bad_data_file_is_refused_with_every_line_named(tmp_path: Path) -> None:
    path = tmp_path / "items.jsonl"
    path.write_text(
        '{"id": "a"}\nnot json\n{"id":"b","outlet":"A","title":"t","step":0,'
        '"source":"s","colour":"red"}\n'
    )
    with pytest.raises(ConfigError) as err:
        load_items(path)
    assert [p.split(": ")[0] for p in err.value.problems] == [f"{path}:1", f"{path}:2", f"{path}:3"]
    assert "colour" in err.value.problems[2]


def test_the_demo_configuration_is_valid() -> None:
    text = demo_config(
        [("Harbour Herald", "http://127.0.0.1:9/feeds/harbour-herald.xml")],
        database_url="sqlite:////tmp/demo.db",
        smtp_port=2525,
        step_seconds=8,
    )
    loaded = load_config(None, text=text, env={})
    cfg = loaded.config
    assert DEVELOPING_TOPIC in {t.name for t in cfg.topics}
    assert {r.topic for r in cfg.alerts} <= {t.name for t in cfg.topics}
    assert cfg.settings.poll.allow_private_networks


def test_the_daemon_gets_none_of_the_users_pointers_elsewhere() -> None:
    env = daemon_env({"PATH": "/bin", "AGGREGATOR_DATABASE_URL": "postgresql://x", "HOME": "/h"})
    assert env == {"PATH": "/bin", "HOME": "/h"}


def _wait(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError(f"gave up waiting for {what}")


def _refused(url: str) -> bool:
    host, port = re.match(r"http://([\d.]+):(\d+)", url).groups()  # type: ignore[union-attr]
    with socket.socket() as s:
        return s.connect_ex((host, int(port))) != 0


def _processes_mentioning(text: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if text in cmdline:
                found.append(int(entry.name))
    return found


@pytest.mark.slow
@pytest.mark.e2e
def test_shortened_replay_shows_events_an_alert_and_a_growing_story_then_stops_on_ctrl_c(
    tmp_path: Path,
) -> None:
    workdir = tmp_path / "demo-work"
    env = dict(os.environ)
    # The demo must not touch a database the user points at.
    env["AGGREGATOR_DATABASE_URL"] = "postgresql+psycopg://nobody@127.0.0.1:9/none"
    proc = subprocess.Popen(
        [sys.executable, "-m", "aggregator.demo", "--step", "1.5", "--workdir", str(workdir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        start_new_session=True,
    )
    output: list[str] = []
    assert proc.stdout is not None
    os.set_blocking(proc.stdout.fileno(), False)
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)

    def read_output() -> str:
        for _ in sel.select(timeout=0.2):
            chunk = proc.stdout.read()  # type: ignore[union-attr]
            if chunk:
                output.append(chunk)
        return "".join(output)

    with contextlib.ExitStack() as stack:
        try:
            web = _wait(
                lambda: (m := re.search(r"web page:\s+(\S+)", read_output())) and m.group(1),
                90,
                "the web page's address",
            )
            mailbox_url = re.search(r"mailbox:\s+(\S+)", read_output()).group(1)  # type: ignore[union-attr]
            client = stack.enter_context(httpx.Client(timeout=10, trust_env=False))
            # Events form from the backlog, several carried by more than one outlet.
            _wait(
                lambda: (
                    sum(
                        e["outlet_count"] >= 2
                        for e in client.get(f"{web}api/v1/events", params={"limit": 200}).json()
                    )
                    >= 5
                ),
                60,
                "five events from several outlets",
            )
            # The developing story grows while we watch.
            sizes: list[int] = []

            def story_grew() -> bool:
                found = client.get(f"{web}api/v1/events", params={"topic": DEVELOPING_TOPIC}).json()
                if found:
                    size = max(e["article_count"] for e in found)
                    if not sizes or size != sizes[-1]:
                        sizes.append(size)
                return len(sizes) >= 3

            _wait(story_grew, 60, "the developing story to grow")
            assert sizes == sorted(sizes)
            # The min_sources rule mailed the local mailbox, readable as a folder and a page.
            maildir = workdir / "mail"
            subjects = _wait(
                lambda: [
                    m["Subject"]
                    for m in mailbox.Maildir(maildir, create=False)
                    if DEVELOPING_TOPIC in m["Subject"]
                ],
                60,
                "the alert in the Maildir",
            )
            page = client.get(mailbox_url).text
            assert f"[{DEVELOPING_TOPIC}]" in page
            assert subjects
            # Ctrl-C in a terminal: SIGINT to the foreground process group.
            os.killpg(proc.pid, signal.SIGINT)
            assert proc.wait(timeout=60) == 0
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    text = read_output()
    sel.close()
    proc.stdout.close()
    assert "stopping the demo" in text
    assert "Traceback" not in text
    # Nothing left running: no process on the demo's files, no port still listening.
    assert _processes_mentioning(str(workdir)) == []
    assert _refused(web)
    assert _refused(mailbox_url)
    log = (workdir / "daemon.log").read_text()
    assert "daemon stopped" in log
    assert "ERROR" not in log
