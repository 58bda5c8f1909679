"""Real components that `pamnode demo` and the tests start: OpenSSH endpoints, namespaces."""


class LabUnavailable(Exception):
    """A system component is missing here (a binary, or root for namespaces and users)."""
