"""Content-Encoding removed by us, under a cap counted on decoded bytes.

httpx's own decoding inflates a whole chunk at once, so a 2 KB ``Content-Encoding:
gzip, gzip`` body can grow to 1 GiB before any limit is checked. The fetcher reads
the raw stream and feeds it here instead: every layer (gzip with several members,
zlib or raw deflate) inflates at most ``_PIECE`` bytes per step, and the reader stops
one byte past the cap.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from typing import Any

__all__ = ["BodyReader", "content_codings"]

_PIECE = 64 * 1024  # largest piece one decompression step may produce


def content_codings(value: str | None) -> list[str]:
    if not value:
        return []
    codings = [c.strip().lower() for c in value.split(",")]
    return [c for c in codings if c and c != "identity"]


class _Layer:
    """One content-coding layer: gzip (possibly several members) or deflate."""

    def __init__(self, coding: str) -> None:
        self.gzip = coding != "deflate"
        self.coding = coding
        self._obj: Any = None  # the running decompressor, None between streams
        self._pending = b""  # bytes held until the next stream's header can be sniffed
        self._members = 0
        self._done = False  # trailing garbage seen: ignore the rest

    def feed(self, data: bytes) -> Iterator[bytes]:
        while data and not self._done:
            if self._obj is None:
                self._pending += data
                if len(self._pending) < 2:
                    return
                data, self._pending = self._pending, b""
                if not self._start(data):
                    self._done = True
                    return
            out = self._obj.decompress(data, _PIECE)
            data = self._obj.unconsumed_tail
            if out:
                yield out
            if self._obj.eof:
                # Concatenated gzip members are one body (RFC 1952 §2.2).
                data = self._obj.unused_data + data
                self._obj = None
            elif not data and len(out) == _PIECE:
                # A full piece may mean more output is waiting with no input left.
                data = b""
                while len(out) == _PIECE:
                    out = self._obj.decompress(b"", _PIECE)
                    if out:
                        yield out

    def _start(self, head: bytes) -> bool:
        if self.gzip:
            if self._members and head[:2] != b"\x1f\x8b":
                return False  # bytes after the last member: ignore, as gzip(1) does
            self._obj = zlib.decompressobj(16 + zlib.MAX_WBITS)
        else:
            if self._members:
                return False
            # "deflate" should be zlib-wrapped (RFC 9110) but some servers send raw
            # deflate; the first two bytes tell which.
            b0, b1 = head[0], head[1]
            zlib_header = (b0 & 0x0F) == 8 and ((b0 << 8) | b1) % 31 == 0
            self._obj = zlib.decompressobj(zlib.MAX_WBITS if zlib_header else -zlib.MAX_WBITS)
        self._members += 1
        return True

    def finish(self) -> None:
        if self._obj is not None or (self._pending and not self._members):
            raise ValueError(f"{self.coding} stream ended early")


class BodyReader:
    """Decode raw chunks through every layer, stopping at ``cap`` decoded bytes."""

    def __init__(self, codings: list[str], cap: int) -> None:
        # Codings are listed in the order applied, so they are removed in reverse.
        self._layers = [_Layer(c) for c in reversed(codings)]
        self._cap = cap
        self.wire = 0
        self.body = bytearray()

    @property
    def decoded(self) -> int:
        return len(self.body)

    def feed(self, chunk: bytes) -> Iterator[int]:
        """Decode one raw chunk, yielding each decoded piece's size as it is kept.

        A generator so the caller can give the event loop a turn while a small chunk
        inflates into megabytes. Raises OverflowError past the cap, zlib.error or
        ValueError on a corrupt stream.
        """
        self.wire += len(chunk)
        for piece in self._through(chunk, 0):
            if len(self.body) + len(piece) > self._cap:
                self.body += piece[: self._cap + 1 - len(self.body)]
                raise OverflowError
            self.body += piece
            yield len(piece)

    def _through(self, data: bytes, level: int) -> Iterator[bytes]:
        if level == len(self._layers):
            yield data
            return
        for piece in self._layers[level].feed(data):
            yield from self._through(piece, level + 1)

    def finish(self) -> bytes:
        for layer in self._layers:
            layer.finish()
        return bytes(self.body)
