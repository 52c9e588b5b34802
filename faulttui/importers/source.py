"""Opening a trace file: sniff compression and format from content, stream decompressed chunks.

Decompression runs in a background thread (zlib and lzma release the GIL), so on a
2-core machine the parser and the decompressor overlap.
"""

from __future__ import annotations

import gzip
import lzma
import os
import queue
import threading
import zlib
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO

from faulttui.errors import TraceFormatError

GZIP_MAGIC = b"\x1f\x8b"
XZ_MAGIC = b"\xfd7zXZ\x00"
TRACE_CMD_DAT_MAGIC = b"\x17\x08\x44tracing"
CHUNK_BYTES = 1 << 20

ProgressCallback = Callable[[int, int], None]
"""progress(bytes of the input file consumed so far, input file size)."""


def check_readable(path: str) -> int:
    """Return the file size, or raise a one-line TraceFormatError saying what is wrong."""
    if not os.path.exists(path):
        raise TraceFormatError("no such file", path=path)
    if os.path.isdir(path):
        raise TraceFormatError("is a directory, not a trace file", path=path)
    try:
        size = os.path.getsize(path)
        with open(path, "rb"):
            pass
    except OSError as error:
        raise TraceFormatError(f"cannot read: {error.strerror}", path=path) from error
    if size == 0:
        raise TraceFormatError("empty file", path=path)
    return size


def compression_of(head: bytes) -> str | None:
    if head.startswith(GZIP_MAGIC):
        return "gzip"
    if head.startswith(XZ_MAGIC):
        return "xz"
    return None


def open_decompressed(path: str) -> tuple[BinaryIO, BinaryIO, str | None]:
    """Open `path` and return (decompressed stream, raw file, compression name)."""
    raw = open(path, "rb")  # noqa: SIM115 - the caller closes it through the returned handles
    head = raw.read(8)
    raw.seek(0)
    compression = compression_of(head)
    stream: BinaryIO
    if compression == "gzip":
        stream = gzip.GzipFile(fileobj=raw, mode="rb")  # type: ignore[assignment]
    elif compression == "xz":
        stream = lzma.LZMAFile(raw, mode="rb")  # type: ignore[assignment]  # noqa: SIM115
    else:
        stream = raw
    return stream, raw, compression


def read_head(path: str, size: int = 8192) -> bytes:
    """The first `size` decompressed bytes (for format sniffing)."""
    stream, raw, _ = open_decompressed(path)
    try:
        return stream.read(size)
    except (OSError, EOFError, lzma.LZMAError) as error:
        raise TraceFormatError(f"damaged compressed data: {error}", path=path) from error
    finally:
        stream.close()
        raw.close()


def _decompressed_blocks(raw: BinaryIO) -> Iterator[bytes]:
    """Decompressed blocks of a plain, gzip (multi-member) or xz file."""
    compression = compression_of(raw.read(8))
    raw.seek(0)
    if compression is None:
        while block := raw.read(CHUNK_BYTES):
            yield block
        return
    decompressor = _new_decompressor(compression)
    while block := raw.read(CHUNK_BYTES // 4):
        while block:
            output = decompressor.decompress(block)
            if output:
                yield output
            if not decompressor.eof:
                break
            block = decompressor.unused_data  # a concatenated gzip member or xz stream
            if block:
                decompressor = _new_decompressor(compression)
    if not decompressor.eof and compression is not None:
        raise EOFError("compressed data ends before the end-of-stream marker (truncated file)")


def _new_decompressor(compression: str) -> Any:
    if compression == "gzip":
        return zlib.decompressobj(wbits=31)
    return lzma.LZMADecompressor()


def iter_chunks(path: str, progress: ProgressCallback | None = None,
                warn: Callable[[str], None] | None = None) -> Iterator[bytes]:
    """Decompressed chunks of `path`, read ahead in a background thread.

    A compressed stream that is cut short or damaged after some good data ends the chunks
    with a `warn(...)` (the trace is imported up to there); with no good data at all, or
    with no `warn`, it raises TraceFormatError.
    """
    total = os.path.getsize(path)
    chunks: queue.Queue[tuple[bytes, int] | BaseException | None] = queue.Queue(maxsize=8)
    stop = threading.Event()

    def produce() -> None:
        # One C call per block: zlib/lzma release the GIL while they work, so the parser
        # thread keeps running; a GzipFile/LZMAFile would loop in Python (8 KiB reads) and
        # fight the parser for the GIL.
        try:
            with open(path, "rb") as raw:
                for chunk in _decompressed_blocks(raw):
                    if stop.is_set():
                        break
                    chunks.put((chunk, raw.tell()))
        except (OSError, EOFError, lzma.LZMAError, zlib.error) as error:
            chunks.put(TraceFormatError(f"damaged compressed data: {error}", path=path))
        finally:
            chunks.put(None)

    producer = threading.Thread(target=produce, name="faulttui-decompress", daemon=True)
    producer.start()
    try:
        yielded = 0
        while True:
            item = chunks.get()
            if item is None:
                break
            if isinstance(item, BaseException):
                if yielded and warn is not None:
                    warn(f"{item}; imported the {yielded:,} bytes before the damage")
                    break
                raise item
            chunk, consumed = item
            yielded += len(chunk)
            if progress is not None:
                progress(consumed, total)
            yield chunk
    finally:
        stop.set()
        while producer.is_alive():
            try:
                chunks.get_nowait()
            except queue.Empty:
                producer.join(timeout=0.05)
