"""The few statements a generation's start and end run, without the ORM's query building.

Every generation starts and ends in the database thread, and while that thread builds a query in
Python it holds the GIL that the event loop relaying every stream needs. Building a query costs
the ORM 0.15 to 0.5 ms each; the statements themselves cost SQLite or PostgreSQL tens of
microseconds (docs/benchmark.md). These helpers write the same SQL the ORM writes for these
shapes, with the table and column names taken from the models and quoted by the backend, and
every value passed as a parameter prepared by its field (`get_db_prep_save`), so that what is
stored is what `save()` would store. The statements' text is built once per model, fields and
database vendor.
"""

from __future__ import annotations

from functools import lru_cache

from django.db import connection
from django.db.models import Model


def _q(name: str) -> str:
    return connection.ops.quote_name(name)


def col(model: type[Model], name: str) -> str:
    """The quoted column of `model`'s field `name` (the primary key with "pk")."""
    field = model._meta.pk if name == "pk" else model._meta.get_field(name)
    return _q(field.column)


def table(model: type[Model]) -> str:
    return _q(model._meta.db_table)


def columns(model: type[Model], alias: str) -> str:
    """`alias.column, …` for every concrete field: what `model.objects.raw()` needs."""
    return ", ".join(f"{alias}.{_q(f.column)}" for f in model._meta.concrete_fields)


@lru_cache(maxsize=64)
def _insert_sql(model: type[Model], vendor: str) -> tuple[str, tuple]:
    fields = tuple(f for f in model._meta.concrete_fields if not f.primary_key)
    returning, _ = connection.ops.returning_columns([model._meta.pk])
    sql = "INSERT INTO {} ({}) VALUES ({}) {}".format(  # noqa: S608 (names from the model)
        _q(model._meta.db_table),
        ", ".join(_q(f.column) for f in fields),
        ", ".join(["%s"] * len(fields)),
        returning,
    )
    return sql, fields


@lru_cache(maxsize=64)
def _update_sql(model: type[Model], names: tuple[str, ...], vendor: str) -> tuple[str, tuple]:
    fields = tuple(model._meta.get_field(name) for name in names)
    sql = "UPDATE {} SET {} WHERE {} = %s".format(  # noqa: S608 (names from the model)
        _q(model._meta.db_table),
        ", ".join(f"{_q(f.column)} = %s" for f in fields),
        _q(model._meta.pk.column),
    )
    return sql, fields


def insert[M: Model](instance: M) -> M:
    """`instance.save()` for a new row of a model without signals and with a database-made
    primary key: one INSERT … RETURNING it."""
    if not (connection.features.can_return_columns_from_insert and instance._meta.pk.db_returning):
        instance.save(force_insert=True)
        return instance
    sql, fields = _insert_sql(type(instance), connection.vendor)
    params = [f.get_db_prep_save(f.pre_save(instance, True), connection) for f in fields]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        (pk,) = cursor.fetchone()
    instance.pk = pk
    instance._state.adding = False
    instance._state.db = connection.alias
    return instance


def update(instance: Model, names: list[str] | tuple[str, ...]) -> int:
    """`instance.save(update_fields=names)` without signals (auto_now fields are set as save()
    sets them); the number of rows changed."""
    sql, fields = _update_sql(type(instance), tuple(names), connection.vendor)
    params = [f.get_db_prep_save(f.pre_save(instance, False), connection) for f in fields]
    params.append(instance.pk)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def one[M: Model](model: type[M], sql: str, params: list) -> M:
    """The one row of `model.objects.raw(sql, params)`; `model.DoesNotExist` when there is none."""
    for row in model.objects.raw(sql, params):
        return row
    raise model.DoesNotExist(f"{model.__name__} matching query does not exist.")


@lru_cache(maxsize=16)
def _locked_sql(model: type[Model], vendor: str) -> str:
    return (
        f"SELECT {columns(model, 't')} FROM {table(model)} t "  # noqa: S608 (names from the model)
        f"WHERE t.{col(model, 'pk')} = %s {for_update('t')}"
    )


def locked[M: Model](model: type[M], pk: int) -> M:
    """`model.objects.select_for_update().get(pk=pk)`, inside a transaction."""
    return one(model, _locked_sql(model, connection.vendor), [pk])


def for_update(alias: str) -> str:
    """The clause that locks the selected rows of `alias` until the transaction ends; empty on
    SQLite, whose write transactions (BEGIN IMMEDIATE here) already hold the database."""
    if not connection.features.has_select_for_update:
        return ""
    if connection.features.has_select_for_update_of:
        return connection.ops.for_update_sql(of=(alias,))
    return connection.ops.for_update_sql()
