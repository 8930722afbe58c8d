"""URL filters in the admin: a list is filtered only by what its own page offers.

Django's `ModelAdmin.lookup_allowed` accepts a lookup on any field of the listed model from the
query string, so `?password__startswith=m` or `?notes__icontains=…` reads a value the page never
shows, one character at a time, from the number of rows listed. An admin with this mixin accepts
only the parameters its list filters and date hierarchy read (plus `extra_lookups`); any other is
refused by Django's changelist with DisallowedModelAdminLookup, a 400. Search (`?q=`) is not a
lookup: it stays limited to `search_fields`.
"""

from __future__ import annotations

from django.contrib import admin
from django.contrib.admin.utils import get_fields_from_path
from django.db.models import Field
from django.db.models.constants import LOOKUP_SEP
from django.http import HttpRequest

DATE_HIERARCHY_PARTS = ("year", "month", "day")


class DeclaredLookupsOnly:
    """Mix into a ModelAdmin (first): only declared filters may filter its list."""

    # Lookups the admin's own links use besides its filters (none so far).
    extra_lookups: tuple[str, ...] = ()

    def declared_lookups(self, request: HttpRequest) -> set[str]:
        allowed = set(self.extra_lookups)
        for item in self.get_list_filter(request):
            allowed.update(filter_parameters(self, request, item))
        if self.date_hierarchy:
            allowed.update(f"{self.date_hierarchy}__{part}" for part in DATE_HIERARCHY_PARTS)
        return allowed

    def lookup_allowed(self, lookup: str, value: str, request: HttpRequest) -> bool:
        # `field` and `field__exact` are one filter (some filters link the one, some the other).
        declared = {_without_exact(name) for name in self.declared_lookups(request)}
        return _without_exact(lookup) in declared and super().lookup_allowed(lookup, value, request)


def _without_exact(lookup: str) -> str:
    return lookup.removesuffix(f"{LOOKUP_SEP}exact")


def filter_parameters(model_admin: admin.ModelAdmin, request: HttpRequest, item) -> list[str]:
    """The query-string parameters one `list_filter` item reads, as the filter itself says."""
    model = model_admin.model
    if callable(item):  # a ListFilter class, built the way the changelist builds it
        spec = item(request, {}, model, model_admin)
    else:
        field, filter_class = item if isinstance(item, (list, tuple)) else (item, None)
        field_path = None
        if not isinstance(field, Field):
            field_path = field
            field = get_fields_from_path(model, field_path)[-1]
        create = filter_class or admin.FieldListFilter.create
        spec = create(field, request, {}, model, model_admin, field_path=field_path)
    return [name for name in spec.expected_parameters() if name]
