"""The protobuf wire level of a Perfetto trace: packets out of a byte stream, fields out of a packet.

A trace file is a serialized `Trace` message, i.e. a sequence of `0x0A <varint length>
<TracePacket>` records. They are read one at a time from the stream, never as one message,
so a multi-gigabyte trace needs memory for one packet, not for the file. Only the packet's
top-level fields are scanned here (a handful per packet); the bulk (ftrace bundles) is handed
to the generated protobuf classes, which parse in C.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from typing import BinaryIO

from faulttui.errors import TraceFormatError

WIRE_VARINT = 0
WIRE_FIXED64 = 1
WIRE_LEN = 2
WIRE_FIXED32 = 5
TRACE_PACKET_TAG = 1 << 3 | WIRE_LEN  # Trace.packet = 1, length-delimited: 0x0A

READ_CHUNK_BYTES = 1 << 20
# Perfetto never writes a packet this large (its own limit is far lower); a bigger length
# means the bytes are not a Perfetto trace, and must not make us allocate that much.
MAX_PACKET_BYTES = 512 << 20


class WireError(ValueError):
    """The bytes do not follow the protobuf wire format (truncated or garbage)."""


def read_varint(buf: bytes, pos: int) -> tuple[int, int]:
    """The varint at `pos` and the position after it."""
    result = 0
    shift = 0
    try:
        while True:
            byte = buf[pos]
            pos += 1
            result |= (byte & 0x7F) << shift
            if byte < 0x80:
                return result, pos
            shift += 7
            if shift > 63:
                raise WireError("varint longer than 10 bytes")
    except IndexError:
        raise WireError("truncated varint") from None


def iter_fields(buf: bytes) -> Iterator[tuple[int, int, int | bytes]]:
    """(field number, wire type, value) for each top-level field of a message.

    Varints and fixed-width values come as ints, length-delimited values as bytes.
    """
    pos = 0
    end = len(buf)
    while pos < end:
        key, pos = read_varint(buf, pos)
        number, wire_type = key >> 3, key & 7
        if number == 0:
            raise WireError("field number 0")
        if wire_type == WIRE_VARINT:
            value, pos = read_varint(buf, pos)
            yield number, wire_type, value
        elif wire_type == WIRE_LEN:
            length, pos = read_varint(buf, pos)
            if pos + length > end:
                raise WireError("truncated length-delimited field")
            yield number, wire_type, buf[pos : pos + length]
            pos += length
        elif wire_type in (WIRE_FIXED64, WIRE_FIXED32):
            width = 8 if wire_type == WIRE_FIXED64 else 4
            if pos + width > end:
                raise WireError("truncated fixed-width field")
            yield number, wire_type, int.from_bytes(buf[pos : pos + width], "little")
            pos += width
        else:
            raise WireError(f"wire type {wire_type} (groups are not used by Perfetto)")


def iter_packet_records(buf: bytes) -> Iterator[bytes]:
    """The TracePackets of an in-memory `Trace` (the payload of `compressed_packets`)."""
    for number, wire_type, value in iter_fields(buf):
        if number == 1 and wire_type == WIRE_LEN:
            assert isinstance(value, bytes)
            yield value


def inflate(payload: bytes) -> bytes:
    """Decompress `compressed_packets`: zlib-wrapped deflate as Perfetto writes it (raw or gzip
    wrappers are accepted too)."""
    try:
        return zlib.decompress(payload, 47)  # zlib or gzip header, detected
    except zlib.error:
        try:
            return zlib.decompress(payload, -15)  # headerless deflate
        except zlib.error as error:
            raise WireError(f"compressed_packets do not inflate: {error}") from None


def unzstd(payload: bytes) -> bytes:
    """Decompress `zstd_compressed_packets` (newer Perfetto), if `zstandard` is installed."""
    try:
        import zstandard  # optional: only zstd-compressed traces need it
    except ImportError:
        raise TraceFormatError(
            "this trace has zstd-compressed packets; install the `zstandard` package to read it"
        ) from None
    try:
        result: bytes = zstandard.ZstdDecompressor().decompressobj().decompress(payload)
    except zstandard.ZstdError as error:
        raise WireError(f"zstd_compressed_packets do not decompress: {error}") from None
    return result


def iter_trace_packets(stream: BinaryIO, path: str) -> Iterator[tuple[int, bytes]]:
    """(byte offset, TracePacket bytes) for each packet of the trace in `stream`.

    Raises TraceFormatError for a truncated packet or bytes that are not a packet stream.
    Unknown top-level fields of `Trace` are skipped, as protobuf parsers do.
    """
    buf = b""
    base = 0  # stream offset of buf[0]
    pos = 0
    at_eof = False
    while True:
        while len(buf) - pos < 32 and not at_eof:  # a record header fits in 32 bytes
            chunk = stream.read(READ_CHUNK_BYTES)
            at_eof = not chunk
            buf = buf[pos:] + chunk
            base += pos
            pos = 0
        if pos >= len(buf):
            return
        offset = base + pos
        try:
            key, body = read_varint(buf, pos)
            number, wire_type = key >> 3, key & 7
            if wire_type == WIRE_LEN:
                length, body = read_varint(buf, body)
            elif wire_type == WIRE_VARINT:
                _, pos = read_varint(buf, body)
                continue
            elif wire_type in (WIRE_FIXED64, WIRE_FIXED32):
                pos = body + (8 if wire_type == WIRE_FIXED64 else 4)
                if pos > len(buf):
                    raise WireError("truncated varint")
                continue
            else:
                raise WireError(f"wire type {wire_type}")
        except WireError as error:
            if at_eof and str(error) == "truncated varint":
                raise TraceFormatError(f"truncated packet at byte {offset}", path=path) from None
            raise TraceFormatError(
                f"not a Perfetto trace: bad protobuf field at byte {offset} ({error})", path=path
            ) from None
        if number == 0 or length > MAX_PACKET_BYTES:
            raise TraceFormatError(
                f"not a Perfetto trace: implausible record at byte {offset}", path=path
            )
        end = body + length
        while end > len(buf) and not at_eof:
            chunk = stream.read(max(READ_CHUNK_BYTES, end - len(buf)))
            at_eof = not chunk
            buf = buf[pos:] + chunk
            base += pos
            body -= pos
            end -= pos
            pos = 0
        if end > len(buf):
            raise TraceFormatError(
                f"truncated packet at byte {offset} (needs {length} bytes, "
                f"{len(buf) - body} left)",
                path=path,
            )
        if number == 1:
            yield offset, buf[body:end]
        pos = end
