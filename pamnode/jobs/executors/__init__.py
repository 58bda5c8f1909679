"""Executors by target protocol; `base` documents the protocol they implement."""

from pamnode.jobs.executors.base import Executors
from pamnode.jobs.executors.ssh import SshExecutor
from pamnode.jobs.executors.winrm import WinRmExecutor


def default_executors() -> Executors:
    windows = WinRmExecutor()
    return {"ssh": SshExecutor(), "winrm": windows, "winrm-https": windows}
