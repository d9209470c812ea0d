"""One TLS client context per process for outbound deliveries.

Loading the CA bundle takes ~35 ms; destinations open a client per attempt (attempts run on whichever
event loop the job engine has), so they share this context instead of building one each time.
"""

from __future__ import annotations

import ssl
from functools import cache


@cache
def client_context() -> ssl.SSLContext:
    """The process's shared default TLS context (system CA bundle, hostname checks) for outbound calls."""
    return ssl.create_default_context()
