"""Storage: peewee models, schema upgrades, the rules' lookup, the recorder and the ledger."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from peewee import Database

from ..settings import Settings
from .db import DatabaseMissing, open_database
from .lookup import CrmLookup
from .models import Account
from .owed import OwedAttempts
from .recorder import Recorder
from .schema import CURRENT_VERSION, current_version


@dataclass(frozen=True)
class Store:
    """One account's view of the database: what the pipeline and the command line use."""

    db: Database
    account_id: int
    lookup: CrmLookup
    recorder: Recorder
    # Batches whose attempts a pass cut short by a failure could not give back (the database was
    # what failed): the next pass gives them back first (passfailures.PassFailures._give_back_owed),
    # in this process or, through the file they are kept in, the next one.
    owed_attempts: OwedAttempts = field(default_factory=OwedAttempts)


class StoreNotReady(Exception):
    """A read-only store (``--dry-run``) was asked for where only writing would make one."""


def open_store(settings: Settings, *, migrate: bool = True) -> Store:
    return store_for(open_database(settings.database_url, migrate=migrate), settings)


def open_read_only(settings: Settings) -> Database:
    """The database as it is, for ``--dry-run``: it refuses every write itself.

    Nothing is created or upgraded. A dry run is how an admin tries a new version next to the
    daemon still running the old one; upgrading the schema under that daemon is the last thing wanted.
    """
    try:
        db = open_database(settings.database_url, migrate=False, read_only=True)
    except DatabaseMissing as exc:
        raise StoreNotReady(f"{exc}; a dry run creates nothing: run a pass or the daemon first") from exc
    version = current_version(db)
    if version > CURRENT_VERSION:
        # A pass of this version would refuse it too: only a newer emaillog can read it.
        db.close()
        raise StoreNotReady(
            f"the database is at schema version {version}, newer than this emaillog knows "
            f"({CURRENT_VERSION}): a newer emaillog upgraded it; dry-run that version (or a newer one)"
        )
    if version < CURRENT_VERSION:
        db.close()
        raise StoreNotReady(
            f"the database is at schema version {version}, this emaillog needs {CURRENT_VERSION}; a dry run "
            "upgrades nothing: upgrade it with a pass or the daemon of this version first"
        )
    return db


def store_for(db: Database, settings: Settings, *, read_only: bool = False) -> Store:
    """The store of ``settings``' account on an already open database (one per mailbox in a fleet)."""
    account_id = existing_account_id(settings.account) if read_only else account_id_for(settings.account)
    # A dry run counts no attempts, so it owes none and gives none back.
    owed = OwedAttempts(None if read_only else owed_attempts_path(settings))
    return Store(
        db,
        account_id,
        CrmLookup(account_id),
        Recorder(
            db,
            account_id,
            settings.account,
            settings.data_dir,
            settings.attachments_dir,
            settings.create_companies,
            settings.notices.daily_limit if settings.notices else None,
        ),
        owed,
    )


def owed_attempts_path(settings: Settings) -> Path:
    """Beside the mailbox's state file (status.StateFile): DATA_DIR/state/<mailbox>.owed.json."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", settings.mailbox_name)
    return settings.data_dir / "state" / f"{safe}.owed.json"


def existing_account_id(name: str) -> int:
    account = Account.get_or_none(Account.name == name)
    if account is None:
        raise StoreNotReady(f"the account {name!r} has nothing in the database yet (add its users first)")
    return int(account.id)


def account_id_for(name: str) -> int:
    account, _ = Account.get_or_create(name=name)
    return int(account.id)
