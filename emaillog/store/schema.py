"""Schema upgrades that apply themselves: a numbered list, each run once inside a transaction."""

from __future__ import annotations

from collections.abc import Callable

from peewee import Database

from .models import ALL_MODELS, Outbox, SchemaVersion


def _v1_initial(db: Database) -> None:
    db.create_tables(ALL_MODELS, safe=True)


def _v2_outbox(db: Database) -> None:
    db.create_tables([Outbox], safe=True)


# Append, never edit: each function takes the schema from version N-1 to N (playhouse.migrate for
# column changes). The number of entries is the current schema version.
MIGRATIONS: tuple[Callable[[Database], None], ...] = (_v1_initial, _v2_outbox)
CURRENT_VERSION = len(MIGRATIONS)


def current_version(db: Database) -> int:
    if not db.table_exists(SchemaVersion._meta.table_name):
        return 0
    latest = SchemaVersion.select(SchemaVersion.version).order_by(SchemaVersion.version.desc()).first()
    return int(latest.version) if latest else 0


def upgrade(db: Database) -> int:
    """Apply every pending migration; return the resulting version."""
    version = current_version(db)
    for number, migration in enumerate(MIGRATIONS[version:], start=version + 1):
        with db.atomic():
            migration(db)
            SchemaVersion.create(version=number)
    return CURRENT_VERSION
