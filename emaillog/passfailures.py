"""What a pass's failures cost its messages: nothing when the failure is not theirs, an attempt when
the server will not hand them over (SPEC §10). The pass whose failures these are: poll.Pass.

A pass cut short by the database, the disk or the connection gives back the attempts it counted for
the batches in flight; what the database, failing too, would not take back is owed (store/owed.py)
and given back before the next pass counts any. A FETCH the server refused is held against the
messages it names: retried one at a time, the one the server never hands over ends in Error after
its attempts, not asked for again once it may fail no more.
"""

from __future__ import annotations

import logging

from imapclient.exceptions import IMAPClientError
from peewee import InterfaceError, OperationalError

from .batch import exhausted
from .mailbox import FetchRefused, MailboxError
from .settings import Settings
from .store import Store
from .store.ledger import FETCH_REFUSED, Attempt, LedgerKey, count_refused, give_back_attempts
from .store.models import Ledger

log = logging.getLogger("emaillog.pass")
# Failures that say nothing about the messages in hand: an attempt they interrupt is given back.
NOT_THE_MESSAGES_FAULT = (OSError, IMAPClientError, MailboxError, OperationalError, InterfaceError)


class PassFailures:
    """A pass's attempts given back, owed or held against a refused FETCH (the pass: poll.Pass)."""

    settings: Settings
    store: Store

    def _refused_too_often(self, row: Ledger) -> bool:
        """Whether the server refused this message's FETCH at its last attempt, and it may fail no more."""
        upcoming = Attempt(row.id, row.attempts + 1, row.failures)
        return row.reason == FETCH_REFUSED and exhausted(upcoming, self.settings.max_attempts)

    def _give_back_owed(self) -> None:
        """Give back the attempts of batches cut short by a failure, oldest first.

        What the database could not take when it failed is owed until it answers again: counted,
        those messages would be taken for crashes and retried one at a time at the next pass.
        """
        owed = self.store.owed_attempts
        while owed:
            batch = owed.take_first()
            try:
                give_back_attempts(self.store.account_id, batch)
            except BaseException:
                owed.put_back(batch)
                raise

    def _say_owed(self) -> None:
        """One line for the attempts the database would not take back: not held against the mail."""
        owed = sum(len(batch) for batch in self.store.owed_attempts.batches())
        if owed:
            log.warning(
                "the attempts of %d message(s) could not be given back (the database failed too): "
                "they stay in %s and are given back when it answers",
                owed,
                self.settings.intake_folder,
            )

    def _count_refused(self, uidvalidity: int, refused: FetchRefused) -> None:
        """Hold a refused FETCH against its messages (after the batch's attempts were given back):
        retried one at a time, the one the server never hands over ends in Error, not the mailbox."""
        s = self.settings
        count_refused(
            self.store.account_id,
            [LedgerKey(s.mailbox_name, uidvalidity, u) for u in refused.uids],
            str(refused),
        )
        log.warning(
            "the server would not hand over uids %s of %s: counted as a failed attempt of each; "
            "after %d the message goes to %s",
            ",".join(map(str, refused.uids)),
            s.intake_folder,
            s.max_attempts,
            s.error_folder,
        )
