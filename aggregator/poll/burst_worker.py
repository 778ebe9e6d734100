"""The burst worker: a parse process the daemon starts for a burst and ends after it.

The daemon's burst executor (``aggregator.workers.BurstExecutor``) runs this module as
a plain child process (``python -c``, not multiprocessing: nothing else is started,
nothing stays behind) when a first poll queues more feeds to parse than its own
threads keep up with, and closes its stdin once the queue has drained: the worker
then exits. It imports only the parse stack (``aggregator.poll.body``).

The protocol, on the child's stdin and stdout, one frame each way per call: 8 bytes
of length (little-endian), then the payload. The daemon sends ``ProcessCall``s (the
pickle of the call without its body, then the body: ``send_call``); the worker
answers each, in order, with the pickle of ``(True, ProcessedFeed)`` or ``(False,
exception)``. Before any call it sends one frame, ``READY``, once its imports are
done: a worker that dies before it has failed to start, and no feed is blamed.

It exits when its stdin closes (the daemon ended it, or died: the pipe closes with
it, SIGKILL included) and, through ``watch_parent``, when the daemon is gone while a
call is running.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import os
import pickle
import select
import signal
import struct
import sys
import threading
import time
from typing import IO, Any

from aggregator.poll.body import ProcessCall

READY = b"ready"
# Added to a parse process's nice value when it starts (``behind_the_daemon``): the
# workers are the daemon's batch work, and its event loop, its writer, the API and the
# host's other services come first (measured: ``aggregator.workers.burst_workers_for``).
NICENESS = 10
# Bytes a pipe to or from the worker holds (widen_pipe): /proc/sys/fs/pipe-max-size
# allows 1 MiB to anyone by default.
PIPE_SIZE = 1 << 20
_HEAD = struct.Struct("<Q")


def write_frame(stream: IO[bytes], data: bytes) -> None:
    # One write of head and payload: each system call on the pipe lets go of the GIL,
    # and the daemon's thread may wait a switch interval (5 ms) to get it back.
    frame = memoryview(_HEAD.pack(len(data)) + data)
    while frame:  # a raw stream may take part of it
        frame = frame[stream.write(frame) :]
    stream.flush()


def send_call(fd: int, call: ProcessCall) -> None:
    """A call as one frame: the pickle of the call without its body, then the body as
    it is. Written from the body's own buffer (``os.writev``): pickling the call whole
    copied every body (a few hundred KB) into a new buffer in the daemon, whose heap
    kept the pages (issue 17)."""
    meta = pickle.dumps(dataclasses.replace(call, body=b""), protocol=pickle.HIGHEST_PROTOCOL)
    body = memoryview(call.body)
    head = _HEAD.pack(_HEAD.size + len(meta) + len(body)) + _HEAD.pack(len(meta))
    parts = [memoryview(head), memoryview(meta), body]
    while parts:
        written = os.writev(fd, parts)
        while parts and written >= len(parts[0]):
            written -= len(parts[0])
            parts.pop(0)
        if parts and written:
            parts[0] = parts[0][written:]


def read_call(data: bytes) -> ProcessCall:
    """The call ``send_call`` framed (its frame's payload)."""
    (size,) = _HEAD.unpack_from(data)
    meta = pickle.loads(memoryview(data)[_HEAD.size : _HEAD.size + size])
    if not isinstance(meta, ProcessCall):
        raise TypeError(f"the parse worker runs ProcessCall only, not {type(meta).__name__}")
    return dataclasses.replace(meta, body=data[_HEAD.size + size :])


def read_frame(stream: IO[bytes]) -> bytes | None:
    """One frame's payload; None at the end of the stream (also in mid-frame: the
    writer is gone). ``stream`` is buffered: a read returns all it asks for, unless
    the stream ends first (the worker's stdin; the daemon uses ``FrameReader``)."""
    head = stream.read(_HEAD.size)
    if len(head) < _HEAD.size:
        return None
    (size,) = _HEAD.unpack(head)
    data = stream.read(size)
    return data if len(data) == size else None


class FrameReader:
    """Frames read into one buffer of this reader's, reused: a new bytes object for
    each answer (a feed's articles, a few hundred KB) was a large allocation in the
    daemon per feed, and its heap kept the pages. ``next`` returns a view of the
    buffer, valid until the next call; ``close`` lets the buffer go."""

    def __init__(self, stream: IO[bytes]) -> None:
        self.stream = stream
        self._buffer = bytearray(_HEAD.size)

    def next(self) -> memoryview | None:
        if not self._fill(_HEAD.size):
            return None
        (size,) = _HEAD.unpack_from(self._buffer)
        if not self._fill(size):
            return None
        return memoryview(self._buffer)[:size]

    def _fill(self, size: int) -> bool:
        if len(self._buffer) < size:
            self._buffer = bytearray(size)
        view = memoryview(self._buffer)
        got = 0
        while got < size:
            n = self.stream.readinto(view[got:size])  # type: ignore[attr-defined]
            if not n:
                return False
            got += n
        return True

    def close(self) -> None:
        self._buffer = bytearray()


def widen_pipe(fd: int) -> None:
    """Let the pipe hold a whole frame (a feed's body, its articles: up to a few
    hundred KB), so that one frame is one system call each way, where the default
    64 KiB made it several, each a wait for the GIL. Linux only; best effort."""
    setsize = getattr(fcntl, "F_SETPIPE_SZ", None)
    if setsize is None:
        return
    with contextlib.suppress(OSError):
        fcntl.fcntl(fd, setsize, PIPE_SIZE)


def watch_parent(pid: int) -> None:
    """The process exits when process ``pid`` (the daemon) is gone.

    A pool initializer for parse workers (``aggregator.workers.cpu_executor``): they
    are children of the forkserver, not of the daemon, and wait on a queue whose
    write end they hold themselves: a daemon killed with SIGKILL (or by the OOM
    killer) would leave them, and the forkserver, running for ever. systemd kills the
    whole control group; a daemon started any other way needs this. The burst worker
    also sees its stdin close, but only between two calls.
    """

    def watch() -> None:
        try:
            fd = os.pidfd_open(pid)  # readable once the process has exited
        except (OSError, AttributeError):  # AttributeError: not Linux
            fd = None
        if fd is not None:
            select.select([fd], [], [])
        else:  # no pidfd (old kernel): poll
            while True:
                time.sleep(2.0)
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    break
                except PermissionError:
                    continue
        os._exit(0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def behind_the_daemon(pid: int) -> None:
    """How a parse process starts, the burst worker and each worker of a pool
    (``aggregator.workers.cpu_executor``): at a lower priority than the daemon
    (``NICENESS``), and gone when the daemon ``pid`` is (``watch_parent``)."""
    with contextlib.suppress(OSError):  # a lower priority is always allowed; best effort
        os.nice(NICENESS)
    watch_parent(pid)


def _reply(ok: bool, value: Any) -> bytes:
    try:
        return pickle.dumps((ok, value), protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as exc:  # an exception (or result) that cannot travel: say so
        what = f"{type(value).__name__}: {value}" if not ok else type(value).__name__
        message = f"the parse worker could not send back {what[:300]} ({exc})"
        return pickle.dumps((False, RuntimeError(message)), protocol=pickle.HIGHEST_PROTOCOL)


def main() -> None:
    # Ctrl-C reaches the whole process group: the daemon finishes its polls in flight
    # on SIGINT, and ends this worker itself, by closing its stdin.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    requests, replies = sys.stdin.buffer, sys.stdout.buffer
    # The replies are frames: nothing else may be written on stdout.
    sys.stdout = sys.stderr
    behind_the_daemon(os.getppid())
    write_frame(replies, READY)  # the parse stack is imported (aggregator.poll.body)
    while True:
        data = read_frame(requests)
        if data is None:
            return
        try:
            reply = _reply(True, read_call(data)())
        except Exception as exc:
            reply = _reply(False, exc)
        write_frame(replies, reply)


if __name__ == "__main__":
    main()
