"""The attempts a pass counted and could not give back, kept in a file until they are given back.

A pass counts each batch's attempts before processing it (ledger.begin_attempts) and gives them back
when it fails for a reason that is not the messages' own (poll.Pass). When the database is what
failed, the give-back fails too: an admin's CSV import holds SQLite's write lock for minutes (200,000
rows: about four), past the busy timeout of both the recording and the give-back. Kept in memory
only, what was owed went with the process (a `run --once` from a timer exits 75 at once; a daemon
restarted): the next pass took each attempt for the process dying on the message, retried the
messages one at a time, and sent them to Error as processing-failed after INTERRUPTIONS_TOLERATED
imports. A file is written while the database is locked; the next process on this data dir reads it.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from ..private import replace_private
from .ledger import LedgerKey

log = logging.getLogger("emaillog.pass")


class OwedAttempts:
    """Batches owed, oldest first; with a ``path``, kept there too (None: in memory only)."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self._batches: list[list[LedgerKey]] = self._read()

    def __bool__(self) -> bool:
        return bool(self._batches)

    def batches(self) -> list[list[LedgerKey]]:
        return [list(batch) for batch in self._batches]

    def extend(self, batches: list[list[LedgerKey]]) -> None:
        self._batches.extend(batch for batch in batches if batch)
        self._write()

    def take_first(self) -> list[LedgerKey]:
        """The oldest batch, no longer owed: written before it is given back, so that a crash in
        between forgets it (one attempt too many, as any crash leaves) rather than gives it back twice."""
        batch = self._batches.pop(0)
        self._write()
        return batch

    def put_back(self, batch: list[LedgerKey]) -> None:
        """A batch taken whose give-back failed: owed again, first."""
        self._batches.insert(0, batch)
        self._write()

    def _read(self) -> list[list[LedgerKey]]:
        if self.path is None:
            return []
        try:
            data = json.loads(self.path.read_text())
            return [[LedgerKey(str(m), int(v), int(u)) for m, v, u in batch] for batch in data]
        except FileNotFoundError:
            return []
        except (OSError, ValueError, TypeError) as exc:
            # Unreadable, the attempts count as interruptions: what they did before this file.
            log.warning("cannot read the attempts owed in %s (%s): they are not given back", self.path, exc)
            return []

    def _write(self) -> None:
        """Replace the file (removed when nothing is owed). A failure leaves it in memory only."""
        if self.path is None:
            return
        try:
            if not self._batches:
                self.path.unlink(missing_ok=True)
                return
            data = [[[k.mailbox, k.uidvalidity, k.uid] for k in batch] for batch in self._batches]
            replace_private(self.path, json.dumps(data).encode())
        except OSError as exc:
            log.warning("cannot write %s (%s): the attempts owed are kept in memory only", self.path, exc)
