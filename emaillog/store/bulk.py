"""Bulk statements for the hot path, written once per shape and sent a page of rows at a time.

peewee builds SQL value by value in Python (about 8 µs each, measured on the backlog benchmark):
for a batch of a few hundred rows that was most of the recording time. These helpers build the
statement text once from the model's metadata and hand plain tuples to the driver. The SQL used
(``ON CONFLICT … DO NOTHING / DO UPDATE``, ``RETURNING``) is shared by SQLite ≥ 3.35 and PostgreSQL.

How the rows travel differs: SQLite runs in this process, so ``executemany`` costs nothing per row;
psycopg2's ``executemany`` is one round trip to the server per row, so PostgreSQL gets multi-row
``VALUES`` lists (``psycopg2.extras.execute_values``), a page of rows per statement.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from functools import cache
from typing import Any

import peewee
from peewee import Database, PostgresqlDatabase, SqliteDatabase
from psycopg2.extras import execute_values

PAGE_ROWS = 500
# The driver's own errors (sqlite3's, psycopg2's) re-raised as peewee's, as for peewee's own queries:
# callers tell "database unavailable" from a bug by peewee's OperationalError and InterfaceError.
_AS_PEEWEE_ERRORS = peewee.__exception_wrapper__
# SQLite's limit on parameters in one statement (SQLITE_MAX_VARIABLE_NUMBER since 3.32).
_SQLITE_PARAMETERS = 32766


def _names(model: Any, fields: Sequence[str]) -> list[str]:
    return [model._meta.fields[name].column_name for name in fields]


@cache
def insert_sql(
    model: Any,
    fields: tuple[str, ...],
    values: str,
    conflict: tuple[str, ...] = (),
    update: tuple[str, ...] = (),
    returning: tuple[str, ...] = (),
    increment: tuple[str, ...] = (),
) -> str:
    """``INSERT … VALUES <values> [ON CONFLICT …] [RETURNING …]``; ``values``: the rows' placeholders."""
    table = model._meta.table_name
    columns = ", ".join(f'"{c}"' for c in _names(model, fields))
    # Names come from the model's own metadata, never from data: nothing here is user input.
    sql = f'INSERT INTO "{table}" ({columns}) VALUES {values}'  # noqa: S608
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
    """INSERT every row; with ``conflict``, existing rows are skipped or updated (``update``: set
    to the new row's value; ``increment``: the existing value plus one). The keys of ``rows`` must
    be distinct when updating: one statement may not update a row twice."""
    if not rows:
        return
    with _AS_PEEWEE_ERRORS:
        cursor = db.cursor()
        if is_postgresql(db):
            sql = insert_sql(model, fields, "%s", conflict, update, increment=increment)
            execute_values(cursor, sql, rows, page_size=PAGE_ROWS)
        else:
            one_row = _row_placeholders(db, len(fields))
            sql = insert_sql(model, fields, one_row, conflict, update, increment=increment)
            cursor.executemany(sql, rows)


def insert_returning(
    db: Database,
    model: Any,
    fields: tuple[str, ...],
    rows: Sequence[tuple[object, ...]],
    returning: tuple[str, ...],
) -> list[tuple[Any, ...]]:
    """INSERT the rows, a page per statement; the ``returning`` columns of each inserted row.

    The order of the returned rows is not promised by either database: return a key with them.
    """
    with _AS_PEEWEE_ERRORS:
        cursor = db.cursor()
        if is_postgresql(db):
            sql = insert_sql(model, fields, "%s", returning=returning)
            pages = execute_values(cursor, sql, rows, page_size=PAGE_ROWS, fetch=True)
            return [tuple(r) for r in pages]
        found: list[tuple[Any, ...]] = []
        page = max(1, min(PAGE_ROWS, _SQLITE_PARAMETERS // len(fields)))
        one_row = _row_placeholders(db, len(fields))
        for start in range(0, len(rows), page):
            chunk = rows[start : start + page]
            sql = insert_sql(model, fields, ", ".join([one_row] * len(chunk)), returning=returning)
            cursor.execute(sql, [value for row in chunk for value in row])
            found.extend(tuple(r) for r in cursor.fetchall())
        return found


def select_in(
    db: Database, sql: str, fixed: Sequence[object], values: Sequence[object]
) -> list[tuple[Any, ...]]:
    """The rows of ``sql`` for all ``values``, a page of values per statement.

    ``sql`` is written with ``?`` for each of the ``fixed`` parameters, which come first, and
    ``{values}`` where the IN list goes. peewee builds an IN list value by value (about 8 µs each):
    the per-batch lookups spent most of their time there, not in the database.
    """
    found: list[tuple[Any, ...]] = []
    with _AS_PEEWEE_ERRORS:
        cursor = db.cursor()
        for page in _in_pages(db, sql, fixed, values):
            cursor.execute(*page)
            found.extend(tuple(row) for row in cursor.fetchall())
    return found


def models_in(model: Any, sql: str, fixed: Sequence[object], values: Sequence[object]) -> list[Any]:
    """``select_in`` for whole rows of ``model`` (``sql`` selects its columns), as its instances:
    peewee converts each value as for its own queries, and builds no SQL."""
    found: list[Any] = []
    with _AS_PEEWEE_ERRORS:
        for statement, parameters in _in_pages(model._meta.database, sql, fixed, values):
            found.extend(model.raw(statement, *parameters))
    return found


def execute_in(db: Database, sql: str, fixed: Sequence[object], values: Sequence[object]) -> None:
    """``select_in`` for a statement that returns nothing (an UPDATE … WHERE … IN)."""
    with _AS_PEEWEE_ERRORS:
        cursor = db.cursor()
        for page in _in_pages(db, sql, fixed, values):
            cursor.execute(*page)


def _in_pages(
    db: Database, sql: str, fixed: Sequence[object], values: Sequence[object]
) -> Iterator[tuple[str, list[object]]]:
    statement = sql.replace("?", db.param)
    fixed_values = list(fixed)
    for start in range(0, len(values), PAGE_ROWS):
        page = list(values[start : start + PAGE_ROWS])
        yield statement.format(values=", ".join([db.param] * len(page))), fixed_values + page


def write_transaction(db: Database) -> Any:
    """A transaction that writes: on SQLite it takes the write lock at its BEGIN.

    A pass records one batch on its recording thread while the main thread counts the attempts of
    the next one. SQLite's default (deferred) BEGIN takes the lock at the first write: a
    transaction that read first and then found another one committed since its read gets
    SQLITE_BUSY at once, without waiting. Taken at BEGIN, the second writer waits (busy_timeout).
    """
    if isinstance(getattr(db, "obj", db), SqliteDatabase):
        return db.atomic(lock_type="IMMEDIATE")
    return db.atomic()


def is_postgresql(db: Database) -> bool:
    # The models are bound through a DatabaseProxy: look at the database behind it.
    return isinstance(getattr(db, "obj", db), PostgresqlDatabase)


def _row_placeholders(db: Database, count: int) -> str:
    return "(" + ", ".join([db.param] * count) + ")"
