"""Preemption: SIGTERM, SIGINT and SIGUSR2 ask the run to checkpoint at the next step boundary and stop."""

import logging
import os
import signal
import threading

log = logging.getLogger("ganrun")

SIGNALS = tuple(s for s in (signal.SIGTERM, signal.SIGINT, getattr(signal, "SIGUSR2", None)) if s is not None)


def watched_signals() -> tuple:
    """Our signals; under submitit, its requeue signal (USR2 or $SUBMITIT_PREEMPT_SIGNAL) instead of SIGTERM,
    since SLURM preempts with SIGTERM and then that signal, and submitit requeues only on the latter."""
    if not os.environ.get("SUBMITIT_EXECUTOR"):
        return SIGNALS
    name = os.environ.get("SUBMITIT_PREEMPT_SIGNAL", "USR2").upper()
    requeue = getattr(signal, name if name.startswith("SIG") else f"SIG{name}", signal.SIGUSR2)
    return (signal.SIGINT, requeue)


class StopRequest:
    """Installs handlers that only set a flag, so a signal never lands in the middle of an update."""

    def __init__(self):
        self.signum = None
        self._previous: dict = {}

    @property
    def requested(self) -> bool:
        return self.signum is not None

    def install(self) -> "StopRequest":
        if threading.current_thread() is threading.main_thread():  # Python allows handlers only there
            for signum in watched_signals():
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def _handle(self, signum, frame) -> None:
        if signum == signal.SIGINT and self.signum == signal.SIGINT:
            raise KeyboardInterrupt  # a second Ctrl-C means: stop now
        self.signum = signum
        log.warning("received %s: checkpointing at the end of this step, then stopping", signal.Signals(signum).name)

    def uninstall(self) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()

    def hand_over(self) -> bool:
        """Call the handler that was there before ours (submitit's requeue); True if there was one."""
        previous = self._previous.get(self.signum)
        self.uninstall()
        if callable(previous) and previous not in (signal.default_int_handler,):
            previous(self.signum, None)
            return True
        return False
