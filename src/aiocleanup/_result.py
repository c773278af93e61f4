"""What a shutdown reports: the exit status, the result and its records."""

from __future__ import annotations

import enum
from typing import NamedTuple

from .tasks import ShutdownReport

__all__ = ["ExitStatus", "ShutdownResult", "StepFailure", "Unfinished"]


class ExitStatus(enum.IntEnum):
    """The process exit status a shutdown asks for.

    ``CUT_OFF`` is 3, not 2, because 2 conventionally means a command-line
    usage error.
    """

    #: Every unit of work, job and body finished, and every cleanup step
    #: succeeded.
    CLEAN = 0
    #: A cleanup step or hook raised or overran its timeout (checked first).
    STEPS_FAILED = 1
    #: Work did not finish, because a unit, job, background task or the body
    #: was cut off, refused part-way, failed, or was left running; the
    #: :attr:`ShutdownResult.unfinished` entries say which.
    CUT_OFF = 3


class StepFailure(NamedTuple):
    """A cleanup step (or hook) that raised or overran its timeout.

    A timeout is recorded as a :class:`TimeoutError` whose message names the
    step and its timeout.
    """

    name: str
    exception: BaseException


class Unfinished(NamedTuple):
    """A piece of work that did not finish as it should.

    Attributes:
        name: the name given to ``inflight()``, ``spawn()`` or
            ``on_stop()`` (for a unit without one, the name of the task that
            ran it), or ``"service body"``.
        kind: ``"unit"``, ``"job"``, ``"background task"``, ``"stop hook"``
            or ``"service body"``.
        outcome: ``"cut off"`` (cancelled after the shutdown began),
            ``"refused"`` (ended by :class:`ShuttingDown` part-way),
            ``"failed"`` (raised) or ``"left running"`` (still running after
            ``cancel_timeout``).
        detail: the exception for ``"failed"``; where the task is
            suspended for ``"left running"``; otherwise empty.
    """

    name: str
    kind: str
    outcome: str
    detail: str = ""


class ShutdownResult(int):
    """What a graceful shutdown did; as an ``int``, its exit status.

    Being an ``int`` keeps ``raise SystemExit(aiocleanup.run(main))``
    working: the process exits with :attr:`exit_status`. Everything else is
    in the attributes, and :attr:`report` has it as text.

    Attributes:
        reason: why the shutdown was requested, e.g. ``"received SIGTERM"``.
        forced: whether a second signal (or ``request(force=True)``) cut the
            drain short.
        drained: whether all the work to drain finished within the grace
            period, so nothing had to be cancelled.
        cut_off: how many pieces of work were cut off or left running (a
            task running an in-flight unit counts once, as the unit).
        unfinished: every piece of work that did not finish as it should.
        tasks: the report of the spawned tasks (see
            :meth:`GracefulShutdown.spawn`).
        steps: names of the cleanup steps, in the order they ran.
        step_failures: the steps and hooks that raised or overran.
        exit_status: the status the process should exit with; also the
            value of the result as an ``int``.
    """

    reason: str
    forced: bool
    drained: bool
    cut_off: int
    unfinished: tuple[Unfinished, ...]
    tasks: ShutdownReport
    steps: tuple[str, ...]
    step_failures: tuple[StepFailure, ...]
    exit_status: ExitStatus

    def __new__(
        cls,
        *,
        reason: str,
        forced: bool,
        drained: bool,
        unfinished: tuple[Unfinished, ...],
        tasks: ShutdownReport,
        steps: tuple[str, ...],
        step_failures: tuple[StepFailure, ...],
    ) -> ShutdownResult:
        if step_failures:
            exit_status = ExitStatus.STEPS_FAILED
        elif unfinished:
            exit_status = ExitStatus.CUT_OFF
        else:
            exit_status = ExitStatus.CLEAN
        self = super().__new__(cls, int(exit_status))
        fields = {
            "reason": reason,
            "forced": forced,
            "drained": drained,
            "cut_off": sum(1 for item in unfinished if item.outcome in _CUT_OFF_OUTCOMES),
            "unfinished": unfinished,
            "tasks": tasks,
            "steps": steps,
            "step_failures": step_failures,
            "exit_status": exit_status,
        }
        for name, value in fields.items():
            object.__setattr__(self, name, value)
        return self

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"ShutdownResult is read-only; cannot set {name!r}")

    @property
    def status(self) -> ExitStatus:
        """The exit status (the same as :attr:`exit_status`)."""
        return self.exit_status

    @property
    def report(self) -> str:
        """The whole result as text, as an operator would want to read it."""
        lines = [
            f"shutdown requested: {self.reason}",
            f"exit status: {int(self.exit_status)} ({self.exit_status.name})",
        ]
        if self.drained:
            lines.append("drain: everything finished within the grace period")
        elif self.forced:
            lines.append("drain: skipped by a second signal")
        else:
            lines.append("drain: the grace period ran out")
        lines.append("work not finished:" + ("" if self.unfinished else " none"))
        for item in self.unfinished:
            line = f"  {item.outcome}: {item.kind} {item.name!r}"
            if item.outcome == "failed":
                line += f": {item.detail}"
            lines.append(line)
            if item.outcome == "left running" and item.detail:
                lines.extend("    " + detail for detail in item.detail.splitlines())
        failures = {failure.name: failure.exception for failure in self.step_failures}
        lines.append("cleanup steps, in the order they ran:" + ("" if self.steps else " none"))
        for step in self.steps:
            failure = failures.pop(step, None)
            lines.append(f"  {step!r}: " + ("done" if failure is None else f"failed: {failure!r}"))
        for hook, exception in failures.items():
            lines.append(f"hook {hook!r} failed: {exception!r}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (
            f"ShutdownResult(exit_status={self.exit_status!r}, reason={self.reason!r}, "
            f"forced={self.forced}, drained={self.drained}, cut_off={self.cut_off}, "
            f"unfinished={self.unfinished!r}, steps={self.steps!r}, "
            f"step_failures={self.step_failures!r})"
        )


_CUT_OFF_OUTCOMES = ("cut off", "left running")
