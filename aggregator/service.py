"""Process plumbing of the daemon: systemd's notify protocol and the lock that keeps a
second daemon off a SQLite file."""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import socket
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TextIO

from sqlalchemy.engine import make_url

from aggregator.errors import AggregatorError

__all__ = [
    "SingleInstanceLock",
    "SystemdNotifier",
    "catch_early_stop",
    "early_stop_signal",
    "pid_alive",
    "running_daemon",
    "sqlite_lock_path",
    "stale_lease_owners",
]

_early: list[signal.Signals] = []


def stale_lease_owners(
    owners: Iterable[str], *, hostname: str, alive: Callable[[int], bool]
) -> list[str]:
    """The lease owners (``host:pid:random``) that cannot be running: on this host
    with no live process of that pid, or another host's (a SQLite file is one
    machine's). A one-off ``aggregator poll`` on this host still running keeps its
    leases."""
    stale = []
    for owner in owners:
        host, _, rest = owner.partition(":")
        pid = rest.partition(":")[0]
        if host != hostname or not pid.isdigit() or not alive(int(pid)):
            stale.append(owner)
    return sorted(stale)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    return True


def catch_early_stop() -> None:
    """Remember a SIGTERM that arrives while the daemon starts (reading the
    configuration, migrating), before its event loop handles signals: the default
    action killed it with status -15 and no log line. The daemon checks
    ``early_stop_signal`` once its own handlers are in place and stops cleanly. One
    that came while the daemon replaced itself by its -OO run was held pending for
    this (``cli._run_lean``) and is taken now."""

    def remember(signum: int, _frame: object) -> None:
        _early.append(signal.Signals(signum))

    signal.signal(signal.SIGTERM, remember)
    # blocked by the run before this one (cli._run_lean) until the handler is in place
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})


def early_stop_signal() -> signal.Signals | None:
    return _early[0] if _early else None


class SystemdNotifier:
    """sd_notify over $NOTIFY_SOCKET (a datagram socket); silent when not under systemd."""

    def __init__(self, env: dict[str, str] | None = None) -> None:
        env = dict(os.environ) if env is None else env
        addr = env.get("NOTIFY_SOCKET")
        self._addr: str | None = None
        self._sock: socket.socket | None = None
        if addr:
            # "@name" is an abstract socket: a leading NUL byte on Linux.
            self._addr = "\0" + addr[1:] if addr.startswith("@") else addr
            self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        usec = env.get("WATCHDOG_USEC")
        self.watchdog_interval = int(usec) / 2e6 if usec and usec.isdigit() else None

    def notify(self, message: str) -> None:
        if self._sock is None or self._addr is None:
            return
        with contextlib.suppress(OSError):
            self._sock.sendto(message.encode(), self._addr)

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()


class SingleInstanceLock:
    """SQLite is single-writer: a second daemon on the same file is refused, clearly."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fh: TextIO | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fh = self.path.open("a+")
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "another process"
            fh.close()
            raise AggregatorError(
                f"another daemon ({holder}) is already running on this SQLite database; "
                "SQLite supports one daemon — use PostgreSQL to run several"
            ) from None
        fh.seek(0)
        fh.truncate()
        fh.write(f"pid {os.getpid()}")
        fh.flush()
        self._fh = fh

    def release(self) -> None:
        if self._fh is not None:
            fcntl.flock(self._fh.fileno(), fcntl.LOCK_UN)
            self._fh.close()
            self._fh = None


def sqlite_lock_path(database_url: str) -> Path | None:
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    return Path(url.database + ".lock")


def running_daemon(database_url: str) -> str | None:
    """Who runs the daemon on this database (``pid 1234``), or None when nobody does.

    SQLite: whoever holds the single-instance lock (probed with a shared lock, which
    fails while the daemon holds its exclusive one). PostgreSQL: whoever holds the
    consumer's advisory lock (one daemon among several does). None also when it cannot
    be told (no database yet, a connection refused): the answer is advice, not a rule.
    """
    path = sqlite_lock_path(database_url)
    if path is not None:
        try:
            fh = path.open("r")
        except OSError:
            return None
        with fh:
            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                return fh.read().strip() or "another process"
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
        return None
    if make_url(database_url).get_backend_name() != "postgresql":
        return None
    return _postgres_consumer(database_url)


def _postgres_consumer(database_url: str) -> str | None:
    from sqlalchemy import text
    from sqlalchemy.exc import SQLAlchemyError

    from aggregator.store import ConsumerLock, create_db_engine

    key = ConsumerLock.KEY
    engine = create_db_engine(database_url)
    try:
        with engine.connect() as conn:
            # An advisory lock on a bigint key shows as classid (high 32 bits) and objid.
            pid = conn.execute(
                text(
                    "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted "
                    "AND classid = :hi AND objid = :lo AND objsubid = 1 "
                    "AND database = (SELECT oid FROM pg_database "
                    "WHERE datname = current_database())"
                ),
                {"hi": key >> 32, "lo": key & 0xFFFFFFFF},
            ).scalar()
    except SQLAlchemyError:
        return None
    finally:
        engine.dispose()
    return None if pid is None else f"on PostgreSQL, its session is backend pid {pid}"
