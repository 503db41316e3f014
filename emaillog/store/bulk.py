"""Bulk statements for the hot path, written once per shape and run with executemany.

peewee builds SQL value by value in Python (about 8 µs each, measured on the backlog benchmark):
for a batch of a few hundred rows that was most of the recording time. These helpers build the
statement text once from the model's metadata and hand plain tuples to the driver. The SQL used
(``ON CONFLICT … DO NOTHING / DO UPDATE``, ``RETURNING``) is shared by SQLite ≥ 3.35 and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any

from peewee import Database


def _names(model: Any, fields: Sequence[str]) -> list[str]:
    return [model._meta.fields[name].column_name for name in fields]


@cache
def insert_sql(
    model: Any,
    fields: tuple[str, ...],
    param: str,
    conflict: tuple[str, ...] = (),
    update: tuple[str, ...] = (),
    returning: tuple[str, ...] = (),
    increment: tuple[str, ...] = (),
) -> str:
    table = model._meta.table_name
    columns = ", ".join(f'"{c}"' for c in _names(model, fields))
    values = ", ".join([param] * len(fields))
    # Names come from the model's own metadata, never from data: nothing here is user input.
    sql = f'INSERT INTO "{table}" ({columns}) VALUES ({values})'  # noqa: S608
    if conflict and (update or increment):
        targets = ", ".join(f'"{c}"' for c in _names(model, conflict))
        sets = [f'"{c}" = excluded."{c}"' for c in _names(model, update)]
        sets += [f'"{c}" = "{table}"."{c}" + 1' for c in _names(model, increment)]
        sql += f" ON CONFLICT ({targets}) DO UPDATE SET {', '.join(sets)}"
    elif conflict:
        sql += " ON CONFLICT DO NOTHING"
    if returning:
        sql += " RETURNING " + ", ".join(f'"{c}"' for c in _names(model, returning))
    return sql


def insert_rows(
    db: Database,
    model: Any,
    fields: tuple[str, ...],
    rows: Sequence[tuple[object, ...]],
    *,
    conflict: tuple[str, ...] = (),
    update: tuple[str, ...] = (),
    increment: tuple[str, ...] = (),
) -> None:
    """INSERT every row (executemany); with ``conflict``, existing rows are skipped or updated
    (``update``: set to the new row's value; ``increment``: the existing value plus one)."""
    if not rows:
        return
    sql = insert_sql(model, fields, db.param, conflict, update, increment=increment)
    cursor = db.cursor()
    cursor.executemany(sql, [tuple(_adapt(db, v) for v in row) for row in rows])


def insert_returning(
    db: Database, model: Any, fields: tuple[str, ...], row: tuple[object, ...], returning: tuple[str, ...]
) -> tuple[object, ...]:
    sql = insert_sql(model, fields, db.param, returning=returning)
    cursor = db.execute_sql(sql, tuple(_adapt(db, v) for v in row))
    found = cursor.fetchone()
    assert found is not None
    return tuple(found)


def _adapt(db: Database, value: object) -> object:
    # peewee stores datetimes as text on SQLite and booleans as integers; do the same here.
    if hasattr(value, "isoformat") and db.param == "?":
        return str(value)
    return value
