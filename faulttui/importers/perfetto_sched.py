"""Which task runs on each CPU, followed through the merged event stream.

`compact_sched` leaves out what the kernel already said elsewhere: a switch has no
`prev_pid`/`prev_comm`/`prev_prio` (the previous task is the one the last switch on that
CPU switched in), and a waking has no waker (the task running on the CPU). Both are
resolved here, in timestamp order, from the events seen so far on the same CPU.
"""

from __future__ import annotations

from typing import Any

UNKNOWN_TID = -1
CPU_TASK = -2  # the tid of a compact sched event: whoever runs on its CPU
UNKNOWN_PRIO = -1


class SchedContext:
    """Per-CPU running task and per-task names/priorities, updated event by event."""

    def __init__(self, comms: dict[int, str]) -> None:
        self.comms = comms  # tid -> comm, shared with the caller (pid 0 stays "<idle>")
        self.prios: dict[int, int] = {}
        self.current: dict[int, int] = {}  # cpu -> tid of the task whose events run there
        self.switched_in: dict[int, tuple[int, str, int]] = {}  # cpu -> last next_* triple
        self.unknown_prev = 0  # first switch on a CPU, no event of the CPU before it
        self.first_prev_from_events = 0  # first switch on a CPU, previous task from its events
        self.missed_switch_in = 0  # a later switch whose task no recorded switch put there

    def switch(self, cpu: int, tid: int, fields: dict[str, Any]) -> int:
        """A sched_switch on `cpu`; fills a compact switch's prev_* fields. Returns its tid."""
        if tid == CPU_TASK:
            tid = self._previous_task(cpu, fields)
        elif fields["prev_pid"]:
            self.comms[fields["prev_pid"]] = fields["prev_comm"]
            self.prios[fields["prev_pid"]] = fields["prev_prio"]
        next_pid = fields["next_pid"]
        self.switched_in[cpu] = (next_pid, fields["next_comm"], fields["next_prio"])
        self.current[cpu] = next_pid
        self.prios[next_pid] = fields["next_prio"]
        if next_pid:
            self.comms[next_pid] = fields["next_comm"]
        return tid

    def _previous_task(self, cpu: int, fields: dict[str, Any]) -> int:
        running = self.current.get(cpu)
        if running is None:
            self.unknown_prev += 1
            return UNKNOWN_TID
        last = self.switched_in.get(cpu)
        if last is not None and last[0] == running:
            fields["prev_pid"], fields["prev_comm"], fields["prev_prio"] = last
        else:
            # No recorded switch put this task here (the first switch on the CPU, or the
            # kernel lost or filtered one), but its events ran here: it is the one leaving.
            if last is None:
                self.first_prev_from_events += 1
            else:
                self.missed_switch_in += 1
            fields["prev_pid"] = running
            fields["prev_comm"] = self.comms.get(running, "")
            fields["prev_prio"] = self.prios.get(running, UNKNOWN_PRIO)
        return running

    def waking(self, cpu: int, tid: int, fields: dict[str, Any]) -> int:
        """A sched_waking; a compact one's waker is the task running on `cpu`."""
        if tid == CPU_TASK:
            tid = self.current.get(cpu, UNKNOWN_TID)
        else:
            self.current[cpu] = tid
        self.comms[fields["pid"]] = fields["comm"]
        self.prios[fields["pid"]] = fields["prio"]
        return tid
