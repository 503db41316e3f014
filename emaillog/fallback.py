"""Finishing the moves that a cut left half done on a server without MOVE (SPEC §10).

Without MOVE a move is three commands: COPY into the folder, STORE ``\\Deleted``, then UID EXPUNGE
(RFC 4315). A cut between them (the connection, or the process) leaves one of two states that the
ledger cannot tell from a move that never started, since its row is marked disposed only at the end:

- copied, not yet flagged: the message is still undeleted in the intake folder and its copy is in
  the folder already. Copying it again would leave two copies there.
- flagged, not yet expunged: the pass lists only undeleted messages, so nothing would ever expunge it.

So before such a move is done again the folder is looked at (``ImapMailbox.copies_in``: the server
narrows by size and Message-ID, the SHA-256 in the ledger decides), and a message found there is only
flagged and expunged. A message flagged ``\\Deleted`` in the intake folder is expunged only when its
ledger row says where it went and its copy is there: a message a person flagged is left alone.

Bytes delivered twice are two messages: a copy found counts for this message only beyond the copies
other ledger rows already account for. A server with MOVE never comes here: MOVE is atomic.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from .mailbox import Mailbox, MailboxError, Wanted
from .store.ledger import FINAL_OUTCOMES, disposed_to, mark_disposed, mark_left, rows_for
from .store.models import Ledger

log = logging.getLogger("emaillog.pass")

# Whose ledger rows: (account id, mailbox name), the leading part of the ledger's key.
MailboxKey = tuple[int, str]


@dataclass
class _Folder:
    """What is left to do for the messages bound for one folder."""

    copy: list[int] = field(default_factory=list)  # no copy there yet: the whole move
    discard: list[int] = field(default_factory=list)  # copied already: flag (again) and expunge
    leave: list[int] = field(default_factory=list)  # flagged \Deleted but no copy of ours there


def finish_copies(
    mailbox: Mailbox, intake: str, key: MailboxKey, uidvalidity: int, undeleted: dict[int, Ledger]
) -> int:
    """Finish the moves of recorded messages in the intake folder, which is selected; returns how many.

    ``undeleted`` holds the final rows of the undeleted messages still there; messages flagged
    ``\\Deleted`` are looked up here. The intake folder is selected again at the end.
    """
    deleted = mailbox.uids(deleted=True)
    flagged = {u: r for u, r in rows_for(*key, uidvalidity, deleted).items() if _ours(r)}
    rows = undeleted | flagged
    if not rows:
        return 0
    sizes = mailbox.sizes(sorted(rows))
    rows = {u: r for u, r in rows.items() if u in sizes}  # expunged meanwhile: nothing left to do
    plans = {
        folder: _plan(mailbox, key, folder, {u: rows[u] for u in uids}, sizes, set(flagged))
        for folder, uids in _by_folder(rows).items()
    }
    if mailbox.select(intake).uidvalidity != uidvalidity:
        raise MailboxError(f"{intake} was recreated during the pass (new UIDVALIDITY)")
    return sum(_carry_out(mailbox, key, uidvalidity, folder, plan) for folder, plan in plans.items())


def _ours(row: Ledger) -> bool:
    return row.outcome in FINAL_OUTCOMES and bool(row.folder)


def _by_folder(rows: dict[int, Ledger]) -> dict[str, list[int]]:
    by_folder: dict[str, list[int]] = {}
    for uid in sorted(rows):
        by_folder.setdefault(rows[uid].folder, []).append(uid)
    return by_folder


def _plan(
    mailbox: Mailbox,
    key: MailboxKey,
    folder: str,
    rows: dict[int, Ledger],
    sizes: dict[int, int],
    flagged: set[int],
) -> _Folder:
    """Which messages bound for ``folder`` are there already. Leaves ``folder`` selected."""
    hashed = {u: r for u, r in rows.items() if r.sha256}
    wanted = [Wanted(r.sha256, sizes[u], r.message_id) for u, r in hashed.items()]
    found = mailbox.copies_in(folder, wanted) if wanted else {}
    # Copies that belong to other messages: rows already disposed there, but for the ones in hand
    # (a message flagged and not expunged may have been marked disposed when it left the listing).
    spare = {sha: n for sha, n in found.items() if n}
    for sha, n in disposed_to(*key, folder, spare).items():
        spare[sha] -= n
    for r in hashed.values():
        if r.disposed and r.sha256 in spare:
            spare[r.sha256] += 1
    plan = _Folder()
    # Flagged messages first: we flag a message only after its COPY answered OK.
    for uid in sorted(rows, key=lambda u: (u not in flagged, u)):
        sha = rows[uid].sha256
        there = bool(sha) and spare.get(sha, 0) > 0
        if there:
            spare[sha] -= 1
        _place(plan, uid, there=there, flagged=uid in flagged)
    return plan


def _place(plan: _Folder, uid: int, *, there: bool, flagged: bool) -> None:
    if there:
        plan.discard.append(uid)
    elif flagged:
        plan.leave.append(uid)
    else:
        plan.copy.append(uid)


def _carry_out(mailbox: Mailbox, key: MailboxKey, uidvalidity: int, folder: str, plan: _Folder) -> int:
    if plan.leave:
        log.warning(
            "uids %s are flagged \\Deleted in the intake folder and not in %s: left alone",
            _uids(plan.leave),
            folder,
        )
    if plan.discard:
        log.info(
            "uids %s were copied to %s before a cut: expunged, not copied again", _uids(plan.discard), folder
        )
    mailbox.discard(plan.discard)
    gone = mailbox.move(plan.copy, folder)
    done = plan.discard + [u for u in plan.copy if u not in gone]
    mark_disposed(*key, uidvalidity, done)
    if gone:
        # Expunged by another mail client after they were looked at: their rows must not name a
        # folder they never reached (as poll.Pass._move).
        mark_left(*key, uidvalidity, sorted(gone))
        log.warning(
            "uids %s left the intake folder before they were moved to %s (another mail client "
            "expunged or moved them): recorded, not moved",
            _uids(sorted(gone)),
            folder,
        )
    return len(done)


def _uids(uids: Sequence[int]) -> str:
    return ",".join(map(str, uids))
