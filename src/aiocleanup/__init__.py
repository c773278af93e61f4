"""Production-ready cleanup tools for asyncio.

* :class:`UnclosedGeneratorHook` warns about async generators left to the
  garbage collector.
* :class:`TaskSupervisor` owns background tasks, reports their failures and
  shuts them down in bounded phases.
* :class:`GracefulShutdown` and :func:`run` turn SIGINT/SIGTERM into a
  graceful, bounded shutdown of a service, with roles declared for the work
  to drain and the loops to stop, and an exit status that says whether any
  work did not finish.
* :mod:`aiocleanup.testing` has pytest helpers that fail a test which leaks
  tasks or async generators (import it explicitly; it is not loaded here).
"""

from ._errors import ShuttingDown
from ._runner import run
from .generators import (
    UnclosedGeneratorHook,
    install_generator_hook,
    uninstall_generator_hook,
)
from .shutdown import (
    ExitStatus,
    GracefulShutdown,
    ShutdownPhase,
    ShutdownResult,
    StepFailure,
    Unfinished,
)
from .tasks import ShutdownReport, SupervisorClosedError, TaskFailure, TaskSupervisor

__version__ = "0.1.0.dev0"

__all__ = [
    "ExitStatus",
    "GracefulShutdown",
    "ShutdownPhase",
    "ShutdownReport",
    "ShutdownResult",
    "ShuttingDown",
    "StepFailure",
    "SupervisorClosedError",
    "TaskFailure",
    "TaskSupervisor",
    "UnclosedGeneratorHook",
    "Unfinished",
    "install_generator_hook",
    "run",
    "uninstall_generator_hook",
]
