"""Storage: peewee models, schema upgrades, the rules' lookup, the recorder and the ledger."""

from __future__ import annotations

from dataclasses import dataclass

from peewee import Database

from ..settings import Settings
from .db import open_database
from .lookup import CrmLookup
from .models import Account
from .recorder import Recorder


@dataclass(frozen=True)
class Store:
    """One account's view of the database: what the pipeline and the command line use."""

    db: Database
    account_id: int
    lookup: CrmLookup
    recorder: Recorder


def open_store(settings: Settings, *, migrate: bool = True) -> Store:
    return store_for(open_database(settings.database_url, migrate=migrate), settings)


def store_for(db: Database, settings: Settings) -> Store:
    """The store of ``settings``' account on an already open database (one per mailbox in a fleet)."""
    account_id = account_id_for(settings.account)
    return Store(
        db,
        account_id,
        CrmLookup(account_id),
        Recorder(db, account_id, settings.account, settings.attachments_dir, settings.create_companies),
    )


def account_id_for(name: str) -> int:
    account, _ = Account.get_or_create(name=name)
    return int(account.id)
