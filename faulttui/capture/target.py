"""Running the traced command, waiting for it, and taking Ctrl-C without losing cleanup.

The command is forked first and held before `exec` on a pipe ("the gate") until its pid
is in `set_event_pid` and tracing is on, so its first instruction is traced. Between the
gate and `exec` the child is still a copy of this Python process: the trace may show a
few of its page faults, under the child's pid, before the exec.

Stop signals (SIGINT, SIGTERM, SIGHUP) and SIGCHLD are blocked while recording and taken
with `sigtimedwait`, so Python never raises KeyboardInterrupt in the middle of a tracefs
write, and the recorder always reaches its cleanup.
"""

from __future__ import annotations

import errno
import os
import select
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType

from faulttui.capture.proc import process_exists

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
# si_code of a signal the kernel raised itself, e.g. the tty sending SIGINT for Ctrl-C to
# the whole foreground process group (the command got its own copy). kill() gives SI_USER.
SI_KERNEL = 0x80
GATE_OPEN = b"x"
POLL_INTERVAL_S = 0.1


class SignalGate:
    """Blocks the stop signals (and SIGCHLD) while entered; hands them out one by one.

    A stop signal the process inherited as ignored (e.g. SIGINT for a background job of a
    non-interactive shell) stays ignored.
    """

    def __init__(self) -> None:
        self.stop_signals = tuple(
            sig for sig in STOP_SIGNALS if signal.getsignal(sig) is not signal.SIG_IGN
        )
        self.signals = {*self.stop_signals, signal.SIGCHLD}
        self.previous_mask: set[int | signal.Signals] = set()
        self.received: list[int] = []  # stop signals, in order

    def __enter__(self) -> SignalGate:
        self.previous_mask = signal.pthread_sigmask(signal.SIG_BLOCK, self.signals)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        while (info := signal.sigtimedwait(self.signals, 0)) is not None:
            if info.si_signo != signal.SIGCHLD:
                self.received.append(info.si_signo)
        signal.pthread_sigmask(signal.SIG_SETMASK, self.previous_mask)

    def wait(self, timeout_s: float) -> signal.struct_siginfo | None:
        info = signal.sigtimedwait(self.signals, max(timeout_s, 0.0))
        if info is not None and info.si_signo != signal.SIGCHLD:
            self.received.append(info.si_signo)
        return info

    def stop_requested(self) -> bool:
        """True once a stop signal arrived (also checks the pending set, without waiting)."""
        pending = signal.sigpending() & set(self.stop_signals)
        for _ in pending:
            self.wait(0)
        return bool(self.received)


@dataclass(slots=True)
class GatedChild:
    pid: int
    gate_fd: int  # write end: one byte lets the child exec
    exec_error_fd: int  # read end: EOF when exec succeeded, else the errno as text


class ExecFailed(Exception):
    """The command could not be executed (not found, not executable...)."""

    def __init__(self, errno_value: int) -> None:
        super().__init__(os.strerror(errno_value))
        self.errno = errno_value


def fork_gated(executable: str, argv: list[str], gate: SignalGate) -> GatedChild:
    """Fork a child that will exec `executable` with `argv` once `open_gate` is called."""
    gate_read, gate_write = os.pipe()  # both close-on-exec (PEP 446)
    error_read, error_write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: no return from here
        try:
            os.close(gate_write)
            os.close(error_read)
            for sig in gate.stop_signals:
                signal.signal(sig, signal.SIG_DFL)
            # Python ignores SIGPIPE and SIGXFSZ; the command expects the defaults
            signal.signal(signal.SIGPIPE, signal.SIG_DFL)
            signal.signal(signal.SIGXFSZ, signal.SIG_DFL)
            signal.pthread_sigmask(signal.SIG_SETMASK, gate.previous_mask)
            if os.read(gate_read, 1) == GATE_OPEN:
                os.execv(executable, argv)
        except OSError as error:
            os.write(error_write, str(error.errno).encode())
        finally:
            os._exit(127)
    os.close(gate_read)
    os.close(error_write)
    return GatedChild(pid, gate_write, error_read)


def open_gate(child: GatedChild) -> None:
    """Let the child exec; raise ExecFailed (after reaping it) if the exec failed."""
    os.write(child.gate_fd, GATE_OPEN)
    os.close(child.gate_fd)
    with os.fdopen(child.exec_error_fd, "rb") as errors:
        report = errors.read()
    if report:
        os.waitpid(child.pid, 0)
        raise ExecFailed(int(report))


def abandon(child: GatedChild) -> None:
    """Close the gate without opening it: the child exits without running the command."""
    os.close(child.gate_fd)
    os.close(child.exec_error_fd)
    os.waitpid(child.pid, 0)


@dataclass(frozen=True, slots=True)
class CommandExit:
    wait_status: int  # as from waitpid
    stop_signal: int | None  # the first stop signal faulttui received, if any


def wait_command(
    pid: int,
    gate: SignalGate,
    tick: Callable[[], None],
    tick_interval_s: float,
    notify: Callable[[str], None],
) -> CommandExit:
    """Wait for our child to exit; call `tick` every interval (maps snapshots).

    A stop signal someone sent to faulttui alone is forwarded to the command; Ctrl-C on the
    terminal already reached it (same process group) and is not sent twice. A second stop
    signal kills the command.
    """
    next_tick = time.monotonic() + tick_interval_s
    stops = 0
    while True:
        info = gate.wait(next_tick - time.monotonic())
        if info is not None and info.si_signo != signal.SIGCHLD:
            stops += 1
            if stops >= 2:
                notify(f"killing the command (pid {pid})")
                _send(pid, signal.SIGKILL)
            else:
                if info.si_code != SI_KERNEL:
                    _send(pid, info.si_signo)
                notify(f"{signal.Signals(info.si_signo).name}: stopping the command "
                       f"(pid {pid}); once more kills it")
        done_pid, status = os.waitpid(pid, os.WNOHANG)
        if done_pid == pid:
            return CommandExit(status, gate.received[0] if gate.received else None)
        if time.monotonic() >= next_tick:
            tick()
            next_tick = time.monotonic() + tick_interval_s


def wait_process(
    pid: int,
    gate: SignalGate,
    deadline: float | None,
    tick: Callable[[], None],
    tick_interval_s: float,
) -> int | None:
    """Wait until `pid` (not our child) exits, `deadline` (time.monotonic) or a stop signal.

    Returns the stop signal that ended the wait, or None.
    """
    pidfd = _open_pidfd(pid)
    try:
        next_tick = time.monotonic() + tick_interval_s
        while True:
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                return None
            wait_s = min(POLL_INTERVAL_S, next_tick - now)
            if deadline is not None:
                wait_s = min(wait_s, deadline - now)
            info = gate.wait(wait_s)
            if info is not None and info.si_signo != signal.SIGCHLD:
                return info.si_signo
            if not _alive(pid, pidfd):
                return None
            if time.monotonic() >= next_tick:
                tick()
                next_tick = time.monotonic() + tick_interval_s
    finally:
        if pidfd is not None:
            os.close(pidfd)


def _open_pidfd(pid: int) -> int | None:
    try:
        return os.pidfd_open(pid)
    except ProcessLookupError:
        return None
    except OSError as error:  # ENOSYS before Linux 5.3: fall back to /proc
        if error.errno == errno.ENOSYS:
            return None
        raise


def _alive(pid: int, pidfd: int | None) -> bool:
    if pidfd is None:
        return process_exists(pid)
    poller = select.poll()
    poller.register(pidfd, select.POLLIN)
    return not poller.poll(0)  # a pidfd turns readable when the process has exited


def _send(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return  # exited meanwhile; waitpid reports it


def kill_and_reap(pid: int) -> None:
    """Our own error while the command runs: do not leave it running untraced."""
    _send(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
