"""Reading back the raw lines of a text trace (pure I/O helper; no textual).

`Fault.lines` holds 1-based line numbers in the decompressed text. The reader keeps a sparse
line-offset index (the decompressed byte offset of every CHECKPOINT_LINES-th line), built
lazily as far as the requests reach, and keeps the decompressed stream open so requests that
move forward never decompress from the start again. Compressed streams cannot seek backwards
cheaply; a backward request restarts decompression, and the index makes it stop early.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable
from itertools import accumulate
from typing import BinaryIO

from faulttui.importers import sniff_format
from faulttui.importers.source import open_decompressed, read_head

CHECKPOINT_LINES = 512
_CHUNK_BYTES = 1 << 20


def is_text_trace(path: str) -> bool:
    """True when the decompressed file is text (raw tracefs or trace-cmd report)."""
    return sniff_format(read_head(path)) == "text"


class TraceLineReader:
    """Random access to lines of a (possibly .gz/.xz compressed) text file."""

    def __init__(self, path: str) -> None:
        self.path = path
        # checkpoints[k] = decompressed offset of line k * CHECKPOINT_LINES + 1
        self._checkpoints: array[int] = array("q", [0])
        self._indexed_through_offset = 0  # offset up to which checkpoints were collected
        self._indexed_lines = 0  # complete lines seen before _indexed_through_offset
        self._stream: BinaryIO | None = None
        self._raw: BinaryIO | None = None

    def close(self) -> None:
        if self._stream is not None:
            self._stream.close()
        if self._raw is not None:
            self._raw.close()
        self._stream = self._raw = None

    def _open_stream(self) -> BinaryIO:
        if self._stream is None:
            self._stream, self._raw, _ = open_decompressed(self.path)
        return self._stream

    def _seek(self, offset: int) -> BinaryIO:
        stream = self._open_stream()
        if stream.tell() > offset and not stream.seekable():
            self.close()
            stream = self._open_stream()
        stream.seek(offset)
        return stream

    def _extend_index(self, line_number: int) -> None:
        """Collect checkpoints until the one at or before `line_number` is known (or EOF)."""
        wanted_checkpoint = (line_number - 1) // CHECKPOINT_LINES
        if wanted_checkpoint < len(self._checkpoints):
            return
        stream = self._seek(self._indexed_through_offset)
        offset = self._indexed_through_offset
        lines = self._indexed_lines
        while wanted_checkpoint >= len(self._checkpoints):
            chunk = stream.read(_CHUNK_BYTES)
            if not chunk:
                break
            # Splitting and summing lengths run in C; Python touches only the checkpoints,
            # so indexing a big trace barely competes with the UI thread for the GIL.
            parts = chunk.split(b"\n")
            complete_lines = len(parts) - 1
            first = (-lines - 1) % CHECKPOINT_LINES  # index of the first newline to record
            if first < complete_lines:
                lengths = list(accumulate(map(len, parts)))
                for index in range(first, complete_lines, CHECKPOINT_LINES):
                    self._checkpoints.append(offset + lengths[index] + index + 1)
            lines += complete_lines
            offset += len(chunk)
        self._indexed_through_offset = offset
        self._indexed_lines = lines

    def read_lines(self, line_numbers: Iterable[int]) -> dict[int, str]:
        """The text of each requested 1-based line that exists (decoded, newline stripped)."""
        wanted = sorted(set(number for number in line_numbers if number >= 1))
        found: dict[int, str] = {}
        if not wanted:
            return found
        self._extend_index(wanted[-1])
        checkpoint = -1
        current_line = 0
        stream: BinaryIO | None = None
        for number in wanted:
            needed_checkpoint = min((number - 1) // CHECKPOINT_LINES, len(self._checkpoints) - 1)
            if stream is None or (needed_checkpoint > checkpoint and (
                    needed_checkpoint * CHECKPOINT_LINES + 1 > current_line)):
                checkpoint = needed_checkpoint
                stream = self._seek(self._checkpoints[checkpoint])
                current_line = checkpoint * CHECKPOINT_LINES + 1
            while current_line < number:
                if not stream.readline():
                    return found
                current_line += 1
            text = stream.readline()
            if not text:
                return found
            found[number] = text.decode("utf-8", "replace").rstrip("\r\n")
            current_line += 1
        return found
