""" "Why?" and "try again": the rule trace of one message, and the Error folder put back through.

``explain`` reads the ledger only. ``retry`` finds the message in the Error folder (by Message-ID,
confirmed by the SHA-256 of its bytes), moves it back to the intake folder, and notes it in the
ledger; the next pass treats it as new mail — after the admin fixed the cause (added the user, …).
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import cast

from imapclient.exceptions import IMAPClientError

from .headerfields import Fields, first_msgid
from .imapmailbox import ImapMailbox
from .mailbox import MessageVanished
from .mimeheader import read_header
from .poll import BATCH_BYTES, STREAM_OVER, batches_by_size
from .settings import Settings
from .store import Store
from .store.models import MAX_ID, Ledger, utcnow
from .terminal import printable


class NotFound(LookupError):
    """No ledger row or no message matches what the admin asked for."""


def find_row(store: Store, value: str, *, as_uid: bool = False) -> Ledger:
    """A ledger id, or (``uid:N`` / ``as_uid``) the most recent row for that UID."""
    text = value.strip()
    if text.startswith("uid:"):
        as_uid, text = True, text[4:]
    if not (text.isascii() and text.isdigit()):  # "²" is a digit to isdigit(), and no number to int()
        raise NotFound(f"{value!r} is neither a ledger id nor a UID (use a number, or uid:NUMBER)")
    if int(text) > MAX_ID:
        raise NotFound(f"no ledger row with the id or UID {text}")
    query = Ledger.select().where(Ledger.account == store.account_id)
    row = None if as_uid else query.where(Ledger.id == int(text)).first()
    if row is None:
        row = query.where(Ledger.uid == int(text)).order_by(Ledger.id.desc()).first()
    if row is None:
        raise NotFound(f"no ledger row with the id or UID {text}")
    return cast(Ledger, row)


def explain(row: Ledger) -> list[str]:
    """The ledger row and its trace as lines of text: rule, hit or miss, reason, data."""
    lines = [
        f"ledger #{row.id}: {row.mailbox} UIDVALIDITY {row.uidvalidity} UID {row.uid}",
        f"  message-id: {row.message_id or '(none)'}",
        f"  outcome:    {row.outcome}" + (f" ({row.reason})" if row.reason else ""),
        f"  folder:     {row.folder or '(still in the intake folder)'}",
        f"  attempts:   {row.attempts} ({row.failures} ended by a crash of the message's own)",
    ]
    if row.detail:
        lines.append(f"  why:        {row.detail}")
    lines.append("  trace:")
    for step in json.loads(row.trace_json or "[]"):
        mark = "HIT" if step.get("hit") else "miss"
        reason = f" ({step['reason']})" if step.get("reason") and step["reason"] != step["rule"] else ""
        data = f"  {json.dumps(step['data'], ensure_ascii=False, default=str)}" if step.get("data") else ""
        lines.append(f"    {mark:<4} {step['rule']}{reason}{data}")
    # The Message-ID, the detail and the trace's data are the sender's text: no ESC to the terminal.
    return [printable(line) or "" for line in lines]


def error_rows(store: Store, settings: Settings) -> list[Ledger]:
    """Messages that sit in the Error folder, as the ledger knows them."""
    return list(
        Ledger.select()
        .where(
            (Ledger.account == store.account_id)
            & (Ledger.folder == settings.error_folder)
            & (Ledger.mailbox == settings.mailbox_name)
        )
        .order_by(Ledger.id)
    )


def still_in_error_folder(settings: Settings, rows: Sequence[Ledger]) -> set[int]:
    """The ids of the ``rows`` whose message the Error folder still holds.

    A person may delete a message from Error, or move it elsewhere, in a mail client: the ledger
    still says Error. A message flagged \\Deleted and not yet expunged counts as gone, as a mail
    client shows it. Only the Message-ID fields of the folder's messages are read: a row is there
    when one message of the folder and no other row carry its Message-ID. The rest — no Message-ID,
    one shared by several rows or messages, one read differently from the header fields alone than
    from the whole message — are told by the SHA-256 of their bytes, as every message once was: an
    Error folder of thousands, some of 50 MB, was read whole to list what the ledger already says.
    """
    assert settings.imap is not None
    mailbox = ImapMailbox(settings.imap)
    try:
        mailbox.select(settings.error_folder)
        unsettled, settled = _settled_by_message_id(mailbox, rows)
        there = set(settled)
        rest = [row for row in rows if row.sha256 and row.id not in there]
        # Hashed only when some row is not matched yet (deleted, or told apart by its bytes alone),
        # and only the messages no row claimed.
        wanted = {row.sha256 for row in rest}
        hashed = _hashed(mailbox, unsettled if rest else [])
        held = Counter(digest for _, digest in hashed if digest in wanted)
    finally:
        mailbox.close()
    for row in rest:  # the same message rejected twice: as many rows as the folder holds copies
        if held[row.sha256] > 0:
            held[row.sha256] -= 1
            there.add(row.id)
    return there


def _settled_by_message_id(mailbox: ImapMailbox, rows: Sequence[Ledger]) -> tuple[list[int], dict[int, int]]:
    """The UIDs of the selected folder that its messages' Message-ID fields leave to be told by
    their bytes, and the rows those fields settle: row id -> UID of its message (no message read whole)."""
    uids = mailbox.uids()
    ids = _message_ids(mailbox, uids)
    settled = _matched_by_message_id(rows, ids)
    claimed = set(settled.values())
    return [uid for uid in uids if uid in ids and uid not in claimed], settled


# The first bytes of a message's Message-ID fields that are read: an id is at most 900 characters
# (MSGID). Fields that fill them are not read at all (their id may lie beyond): told by the bytes.
MESSAGE_ID_BYTES = 4096


def _message_ids(mailbox: ImapMailbox, uids: Sequence[int]) -> dict[int, str | None]:
    """Each listed message's Message-ID as a pass reads it, None when it has none or it is not read;
    a message expunged since it was listed is left out."""
    fields = mailbox.header_fields(uids, ["MESSAGE-ID"], MESSAGE_ID_BYTES)
    return {uid: _message_id(raw) for uid, raw in fields.items()}


def _message_id(fields: bytes) -> str | None:
    if len(fields) >= MESSAGE_ID_BYTES:
        return None
    return first_msgid(Fields(read_header(fields)).first("message-id"))


def _matched_by_message_id(rows: Sequence[Ledger], ids: dict[int, str | None]) -> dict[int, int]:
    """Each row whose Message-ID is no other row's and one message's alone, by id, with the UID of
    that message. A row without a SHA-256 was never found by it, and is not found here either."""
    rows_by_id: dict[str, list[Ledger]] = defaultdict(list)
    for row in rows:
        if row.sha256 and row.message_id:
            rows_by_id[row.message_id].append(row)
    uids_by_id: dict[str, list[int]] = defaultdict(list)
    for uid, message_id in ids.items():
        if message_id is not None:
            uids_by_id[message_id].append(uid)
    settled: dict[int, int] = {}
    for message_id, same in rows_by_id.items():
        found = uids_by_id.get(message_id, [])
        if len(same) == 1 and len(found) == 1:
            settled[same[0].id] = found[0]
    return settled


def in_error_folder(row: Ledger, settings: Settings) -> Ledger:
    """``row``, when its message was put in this mailbox's Error folder; else a NotFound that says
    where it went. Looked for there anyway, a logged message was only reported "not found"."""
    if row.mailbox != settings.mailbox_name:
        raise NotFound(f"ledger #{row.id} is a message of mailbox {row.mailbox}: use --mailbox {row.mailbox}")
    if row.folder != settings.error_folder:
        where = f"moved to {row.folder}" if row.folder else f"still in {settings.intake_folder}"
        raise NotFound(
            f"ledger #{row.id} is not in the {settings.error_folder} folder: {row.outcome}, {where}"
            " (emaillog errors list shows what is)"
        )
    return row


@dataclass
class RetryReport:
    moved: list[int]
    missing: list[int]


def retry(
    store: Store,
    settings: Settings,
    rows: Iterable[Ledger],
    progress: Callable[[int, int], None] | None = None,
) -> RetryReport:
    """Move each message back to the intake folder; the ledger row keeps its history."""
    assert settings.imap is not None
    wanted = list(rows)
    mailbox = ImapMailbox(settings.imap)
    report = RetryReport([], [])
    try:
        mailbox.select(settings.error_folder)
        folder = _ErrorFolder(mailbox, wanted)
        for number, row in enumerate(wanted, start=1):
            uid = folder.locate(row)
            # Gone when moved (a person deleted it since it was read): another copy, if there is one.
            while uid is not None and mailbox.move([uid], settings.intake_folder):
                folder.taken.add(uid)
                uid = folder.locate(row)
            if uid is None:
                report.missing.append(row.id)
            else:
                folder.taken.add(uid)
                _note_retry(row, settings)
                report.moved.append(row.id)
            if progress:
                progress(number, len(wanted))
    finally:
        mailbox.close()
    return report


class _ErrorFolder:
    """The UIDs of the selected Error folder whose bytes hash to the rows' SHA-256, each message
    read whole at most once in a run.

    A row with a Message-ID is looked for among the messages that carry it (SEARCH). The others —
    no Message-ID, or one the server cannot search for — are told by the bytes of every message
    their Message-ID fields leave unsettled, as ``errors list`` tells them: hashed again for each
    row, an Error folder of N messages without a Message-ID was read whole N times.
    """

    def __init__(self, mailbox: ImapMailbox, rows: Sequence[Ledger]) -> None:
        self.mailbox = mailbox
        self.rows = rows
        self.wanted = {row.sha256 for row in rows if row.sha256}
        self.digests: dict[int, str | None] = {}  # UID -> its SHA-256 when some row has it, else None
        self.taken: set[int] = set()  # moved (or gone): the same message rejected twice is two rows
        self._unsettled: list[int] | None = None
        self._settled: dict[int, int] = {}

    def locate(self, row: Ledger) -> int | None:
        if not row.sha256:  # never found by its bytes
            return None
        candidates = [uid for uid in self._candidates(row) if uid not in self.taken]
        self._hash([uid for uid in candidates if uid not in self.digests])
        return next((uid for uid in candidates if self.digests[uid] == row.sha256), None)

    def _candidates(self, row: Ledger) -> list[int]:
        """SEARCH HEADER matches a substring (RFC 3501 §6.4.4): the id is looked for without the
        angle brackets the ledger gives it, as a message may carry it bare (``Message-ID: id@host``)."""
        msgid = (row.message_id or "").removeprefix("<").removesuffix(">")
        found = _searched(self.mailbox, msgid) if msgid else None
        if found is not None:
            return found
        if self._unsettled is None:  # once a run, and only when some row needs it
            self._unsettled, self._settled = _settled_by_message_id(self.mailbox, self.rows)
        own = self._settled.get(row.id)  # its own message, when its id could not be searched for
        return sorted(self._unsettled if own is None else [*self._unsettled, own])

    def _hash(self, uids: Sequence[int]) -> None:
        for uid, digest in _hashed(self.mailbox, uids):
            self.digests[uid] = digest if digest in self.wanted else None
        for uid in uids:  # expunged by another session since it was listed
            self.digests.setdefault(uid, None)


def _hashed(mailbox: ImapMailbox, uids: Sequence[int]) -> Iterator[tuple[int, str]]:
    """Each UID of the selected folder with the SHA-256 of its bytes, read as a pass reads them.

    Bounded as a pass is: small messages fetched whole in batches of a bounded size, a large one
    hashed in chunks. Fetched a hundred at a time whatever their size, an Error folder of large
    messages without Message-IDs (all of them candidates) filled the memory.
    """
    sizes = mailbox.sizes(uids)
    small = [uid for uid in uids if uid in sizes and sizes[uid] <= STREAM_OVER]
    for batch in batches_by_size(small, sizes, 100, BATCH_BYTES):
        for uid, raw in mailbox.fetch(batch).items():
            yield uid, hashlib.sha256(raw).hexdigest()
    for uid in (uid for uid in uids if uid in sizes and sizes[uid] > STREAM_OVER):
        try:
            yield uid, mailbox.sections(uid).sha256()
        except MessageVanished:
            continue  # deleted by a person since it was listed: gone, as if it had not been listed


def _searched(mailbox: ImapMailbox, msgid: str) -> list[int] | None:
    """The UIDs whose Message-ID contains ``msgid``; None where the server cannot search for it.
    A Message-ID may be UTF-8 (RFC 6532), which a SEARCH must announce, and only US-ASCII is a
    charset every server must search in (RFC 3501 §6.4.4)."""
    try:
        found = mailbox.client.search(["HEADER", "Message-ID", msgid], None if msgid.isascii() else "UTF-8")
    except IMAPClientError:
        return None  # [BADCHARSET]: the hashes tell which it is
    return sorted(int(u) for u in found)


def _note_retry(row: Ledger, settings: Settings) -> None:
    trace = json.loads(row.trace_json or "[]")
    trace.append(
        {
            "rule": "retry",
            "hit": True,
            "reason": "moved back to the intake folder by an admin",
            "data": {"at": utcnow().isoformat()},
        }
    )
    row.folder, row.trace_json, row.updated_at = settings.intake_folder, json.dumps(trace), utcnow()
    row.save()
