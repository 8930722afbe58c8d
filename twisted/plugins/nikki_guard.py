"""Twisted's endpoint plugin for the slow-client guard (diaries/backpressure.py).

Twisted finds endpoint types in `twisted/plugins/` directories on `sys.path` (this one is the
repository's: daphne runs from its root); `serverFromString(reactor, "nikki-guard:…")` then
builds a guarded endpoint. No `__init__.py` here or in `twisted/`, as Twisted's plugin guide asks.
"""

from diaries.backpressure import GuardedEndpointParser

nikki_guard = GuardedEndpointParser()
