"""Pain Gateway: an open clinical integration gateway for automated pain assessment (decision support).

The package's names are the public plugin API (``gateway.plugin_api``): ``from gateway import hookimpl``.
"""

from gateway.plugin_api import *  # noqa: F403  (the API's own ``__all__`` is the list)
from gateway.plugin_api import __all__ as __all__
