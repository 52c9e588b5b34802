"""trace-cmd `.dat` files, decoded by the `trace-cmd report` program into text we then parse."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator

from faulttui.errors import TraceFormatError
from faulttui.importers.source import CHUNK_BYTES, open_decompressed

TRACE_CMD_PACKAGE_HINT = (
    "reading a trace-cmd .dat needs the `trace-cmd` program (Debian/Ubuntu: apt-get install "
    "trace-cmd; Fedora: dnf install trace-cmd), or convert it elsewhere with "
    "`trace-cmd report -t -i FILE > FILE.txt`"
)


def trace_cmd_chunks(path: str, compressed: bool) -> Iterator[bytes]:
    """Run `trace-cmd report -t` on `path` and stream its text output."""
    program = shutil.which("trace-cmd")
    if program is None:
        raise TraceFormatError(TRACE_CMD_PACKAGE_HINT, path=path)
    with tempfile.TemporaryDirectory(prefix="faulttui-dat-") as scratch:
        dat_path = path
        if compressed:  # trace-cmd needs a seekable plain file
            dat_path = os.path.join(scratch, "trace.dat")
            stream, raw, _ = open_decompressed(path)
            with stream, raw, open(dat_path, "wb") as plain:
                shutil.copyfileobj(stream, plain, CHUNK_BYTES)
        process = subprocess.Popen(
            [program, "report", "-t", "-i", dat_path],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
        )
        assert process.stdout is not None and process.stderr is not None
        printed = 0
        try:
            while True:
                chunk = process.stdout.read(CHUNK_BYTES)
                if not chunk:
                    break
                printed += len(chunk)
                yield chunk
            stderr = process.stderr.read()
            status = process.wait()
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
            process.stdout.close()
            process.stderr.close()
        if status != 0:
            message = stderr.decode("utf-8", "replace").strip().splitlines()
            reason = message[-1] if message else f"exit status {status}"
            raise TraceFormatError(f"trace-cmd report failed: {reason}", path=path)
        if printed == 0:
            # trace-cmd prints nothing, and exits 0, for a .dat cut anywhere after its magic
            raise TraceFormatError(
                f"trace-cmd report printed nothing for this {os.path.getsize(dat_path):,}-byte "
                ".dat: is the file complete? (a .dat cut short reads as empty)", path=path)
