"""Executors by target protocol; `base` documents the protocol they implement."""

from pamnode.executors.base import Executors
from pamnode.executors.ssh import SshExecutor
from pamnode.executors.winrm import WinRmExecutor


def default_executors() -> Executors:
    windows = WinRmExecutor()
    return {"ssh": SshExecutor(), "winrm": windows, "winrm-https": windows}
