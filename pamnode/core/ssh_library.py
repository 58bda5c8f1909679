"""asyncssh, imported once for every pamnode module that uses it (`from
pamnode.core.ssh_library import asyncssh`), without the deprecation warnings that cryptography
(from 51 on) raises while asyncssh's modules name its DSA classes.

Those fire at import, whichever keys a node meets, and tell whoever runs it nothing to act on:
they would open every `pamnode init` and `serve`. Only they are silenced, and only during the
import: a DSA key met at run time still warns, as a line of the log.
"""

import warnings

from cryptography.utils import CryptographyDeprecationWarning

with warnings.catch_warnings():
    warnings.filterwarnings(
        "ignore",
        message="DSA is deprecated",
        category=CryptographyDeprecationWarning,
        module=r"asyncssh\.crypto\.",
    )
    import asyncssh

__all__ = ["asyncssh"]
