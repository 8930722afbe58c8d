"""The admin as a moderation desk, one module per model family.

Moderators (the "Moderators" group, created by migration 0004) work here. Every decision goes
through a service, which writes the audit trail (`ModerationEvent`); the admin itself edits no
diary. A moderator who is not a superuser sees only entries that are shared, flagged, hidden or
have an open report — never a private diary nobody has reason to look at, nor one whose reports
were all dismissed or resolved — in lists, on object pages and by direct address alike
(`get_queryset` and the object-level permissions). Every list accepts only the URL filters it
declares (`lookups.DeclaredLookupsOnly`), so no hidden field can be read through the query
string.

Django's autodiscover imports this package; importing the modules registers their admins.
"""

from . import accounts, audit, edits, entries, generations, reports

__all__ = ["accounts", "audit", "edits", "entries", "generations", "reports"]
