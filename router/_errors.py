"""Errors raised by the ``router`` package.

Exception tree::

    RouterError                catch to handle anything this package raises
    └── RouterConfigError      a policy or model file is invalid; fix the configuration
                               (also a ValueError, as these were before the tree)

Routing itself never raises: a turn the router cannot score is routed by its
fallback rule, with a reason, and that is a `Decision`, not an exception.
"""

from __future__ import annotations

__all__ = ["RouterConfigError", "RouterError"]


class RouterError(Exception):
    """Root of every exception the ``router`` package raises."""


class RouterConfigError(RouterError, ValueError):
    """A `RouterPolicy` value or a router model file is invalid.

    Subclasses ``ValueError`` so that code catching the old bare ``ValueError``
    keeps working.
    """
