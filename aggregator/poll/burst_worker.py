"""The burst worker: a parse process the daemon starts for a burst and ends after it.

The daemon's burst executor (``aggregator.workers.BurstExecutor``) runs this module as
a plain child process (``python -c``, not multiprocessing: nothing else is started,
nothing stays behind) when a first poll queues more feeds to parse than its own
threads keep up with, and closes its stdin once the queue has drained: the worker
then exits. It imports only the parse stack (``aggregator.poll.body``).

The protocol, on the child's stdin and stdout, one frame each way per call: 8 bytes
of length (little-endian), then a pickle. The daemon sends ``ProcessCall``s; the
worker answers each, in order, with ``(True, ProcessedFeed)`` or ``(False,
exception)``. Before any call it sends one frame, ``READY``, once its imports are
done: a worker that dies before it has failed to start, and no feed is blamed.

It exits when its stdin closes (the daemon ended it, or died: the pipe closes with
it, SIGKILL included) and, through ``watch_parent``, when the daemon is gone while a
call is running.
"""

from __future__ import annotations

import contextlib
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

READY = b"ready"
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


def read_frame(stream: IO[bytes]) -> bytes | None:
    """One frame's payload; None at the end of the stream (also in mid-frame: the
    writer is gone). ``stream`` may be raw (a read returns what the pipe holds)."""
    head = _read_exactly(stream, _HEAD.size)
    if head is None:
        return None
    (size,) = _HEAD.unpack(head)
    return _read_exactly(stream, size)


def _read_exactly(stream: IO[bytes], size: int) -> bytes | None:
    data = stream.read(size)
    if data is None or len(data) == size:
        return data
    parts = [data]
    got = len(data)
    while got < size:
        more = stream.read(size - got)
        if not more:
            return None
        parts.append(more)
        got += len(more)
    return b"".join(parts)


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
    watch_parent(os.getppid())
    import aggregator.poll.body  # noqa: F401  (the parse stack, before READY)

    write_frame(replies, READY)
    while True:
        data = read_frame(requests)
        if data is None:
            return
        try:
            reply = _reply(True, pickle.loads(data)())
        except Exception as exc:
            reply = _reply(False, exc)
        write_frame(replies, reply)


if __name__ == "__main__":
    main()
