"""What the daemon holds from its start: libraries only some of its work needs are
imported by that work (issue 17: each one stays in the daemon's memory for as long as
it runs). jinja2 with the first web page asked for, charset_normalizer with the first
feed body that is neither BOM-marked nor UTF-8, ftfy (and wcwidth) with the first text
showing mojibake's hint. Checked by module, in a fresh
interpreter; how much memory that is, is measured in ``benchmarks/bench_memory.py``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from aggregator.store import Store
from aggregator.store.migrate import upgrade

# The daemon's modules and its web application; then a UTF-8 feed parsed; then a
# Shift-JIS one mislabelled as UTF-8 (detected); then a text that is UTF-8 read as
# cp1252 (repaired); then a page: which of the watched modules were imported after
# each step.
PROBE = """
import json, sys
from datetime import UTC, datetime
import httpx
import aggregator.daemon
from aggregator.api import ApiSettings, create_app
from aggregator.poll.parse import parse_feed
from aggregator.store import create_db_engine
from aggregator.store.archive import Archive
from aggregator.text import clean_text

watched = ["jinja2", "charset_normalizer", "ftfy", "wcwidth"]
steps = {}
app = create_app(Archive(create_db_engine(sys.argv[1])), ApiSettings())
steps["start"] = [m for m in watched if m in sys.modules]
rss = '<?xml version="1.0" encoding="{}"?><rss version="2.0"><channel><title>t</title>' \\
    '<item><title>{}</title><link>https://example.org/a</link></item></channel></rss>'
now = datetime.now(UTC)
parse_feed(rss.format("utf-8", "caf\\u00e9").encode(), url="https://example.org/f",
           headers={}, fetched_at=now)
steps["utf-8 feed"] = [m for m in watched if m in sys.modules]
body = rss.format("utf-8", "\\u65e5\\u672c\\u8a9e\\u306e\\u30cb\\u30e5\\u30fc\\u30b9" * 8)
parse_feed(body.encode("shift_jis"), url="https://example.org/f", headers={},
           fetched_at=now)
steps["shift-jis feed"] = [m for m in watched if m in sys.modules]
fixed = clean_text("It\\u00e2\\u20ac\\u2122s caf\\u00c3\\u00a9")  # what normalize calls
steps["mojibake text"] = [fixed, *[m for m in watched if m in sys.modules]]
transport = httpx.ASGITransport(app=app)
import asyncio
async def get():
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as c:
        return (await c.get("/")).status_code
steps["page"] = [asyncio.run(get()), *[m for m in watched if m in sys.modules]]
print(json.dumps(steps))
"""


def test_the_daemon_imports_page_templates_encoding_detection_and_ftfy_on_first_use(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'archive.db'}"
    store = Store.open(url)
    upgrade(store.engine)
    store.close()
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, url],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    steps = json.loads(proc.stdout.splitlines()[-1])
    assert steps == {
        "start": [],
        "utf-8 feed": [],
        "shift-jis feed": ["charset_normalizer"],
        "mojibake text": ["It\u2019s caf\u00e9", "charset_normalizer", "ftfy", "wcwidth"],
        "page": [200, "jinja2", "charset_normalizer", "ftfy", "wcwidth"],
    }


# The daemon with its API on (port 0), in a fresh interpreter: which of the web
# application's libraries it holds once the server listens, after a reload that adds a
# topic, and after the first request (for that topic: the application built then
# knows the reloaded topics).
DAEMON_PROBE = """
import asyncio, json, sys
from pathlib import Path
from aggregator.compose import load_config
from aggregator.daemon import Daemon
import httpx

config, url = Path(sys.argv[1]), sys.argv[2]
watched = ["fastapi", "starlette", "aggregator.api.app"]
topic = "topics:\\n  - name: {0}\\n    query: {0}\\n"
config.write_text("settings:\\n  http: {port: 0}\\n" + topic.format("alpha"))
steps = {}

async def main():
    daemon = Daemon(load_config(config, env={"AGGREGATOR_DATABASE_URL": url}))
    task = asyncio.create_task(daemon.run())
    while daemon.api_port is None and not task.done():
        await asyncio.sleep(0.05)
    steps["listening"] = [m for m in watched if m in sys.modules]
    config.write_text(config.read_text() + topic.format("beta")[len("topics:\\n"):])
    steps["reloaded"] = [await daemon.reload(), *[m for m in watched if m in sys.modules]]
    base = f"http://127.0.0.1:{daemon.api_port}"
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        answer = await client.get("/api/v1/topics/beta")
    steps["first request"] = [answer.status_code, *[m for m in watched if m in sys.modules]]
    daemon.stopping.set()
    steps["exit"] = await task

asyncio.run(main())
print(json.dumps(steps))
"""


def _daemon_steps(tmp_path: Path, probe: str) -> dict[str, object]:
    """Run a daemon probe script in a fresh interpreter on a new SQLite archive and
    return the steps it printed (what was imported when)."""
    url = f"sqlite:///{tmp_path / 'archive.db'}"
    store = Store.open(url)
    upgrade(store.engine)
    store.close()
    proc = subprocess.run(
        [sys.executable, "-c", probe, str(tmp_path / "feeds.yaml"), url],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    steps: dict[str, object] = json.loads(proc.stdout.splitlines()[-1])
    return steps


def test_the_daemon_builds_its_web_application_with_the_first_request(tmp_path: Path) -> None:
    steps = _daemon_steps(tmp_path, DAEMON_PROBE)
    assert steps == {
        "listening": [],
        "reloaded": [True],
        "first request": [200, "fastapi", "starlette", "aggregator.api.app"],
        "exit": 0,
    }


# The daemon in a fresh interpreter, with a local receiver: the webhook client it
# holds from its start makes httpx's connection pool (httpcore, h11, anyio, an SSL
# context) with its first request, which then goes through as before.
WEBHOOK_PROBE = """
import asyncio, json, sys, threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from aggregator.compose import load_config
from aggregator.daemon import Daemon

class Receiver(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(200 if body == b"ping" else 400)
        self.send_header("Content-Length", "0")
        self.end_headers()
    def log_message(self, *args):
        pass

server = HTTPServer(("127.0.0.1", 0), Receiver)
threading.Thread(target=server.serve_forever, daemon=True).start()
config, url = Path(sys.argv[1]), sys.argv[2]
config.write_text("settings:\\n  http: {port: 0}\\n")
watched = ["httpcore", "h11"]
steps = {}

async def main():
    daemon = Daemon(load_config(config, env={"AGGREGATOR_DATABASE_URL": url}))
    task = asyncio.create_task(daemon.run())
    while daemon.api_port is None and not task.done():
        await asyncio.sleep(0.05)
    steps["listening"] = [m for m in watched if m in sys.modules]
    answer = await daemon.webhooks.post(
        f"http://127.0.0.1:{server.server_port}/hook", content=b"ping"
    )
    steps["sent"] = [answer.status_code, *[m for m in watched if m in sys.modules]]
    daemon.stopping.set()
    steps["exit"] = await task

asyncio.run(main())
server.shutdown()
print(json.dumps(steps))
"""


def test_the_daemon_makes_its_webhook_connection_pool_with_the_first_webhook(
    tmp_path: Path,
) -> None:
    steps = _daemon_steps(tmp_path, WEBHOOK_PROBE)
    assert steps == {"listening": [], "sent": [200, "httpcore", "h11"], "exit": 0}
