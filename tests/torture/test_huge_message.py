"""A 300 MB message through a real Dovecot: refused as ``malformed`` without being fetched (SPEC §8).

The message is generated on disk in chunks (never held in memory here either) and put straight into
the maildir. Only its RFC822.SIZE and its header may cross the wire: every FETCH is recorded.
"""

from __future__ import annotations

import re
import resource
import time
from pathlib import Path

from support import make_world, message

from emaillog import admin, views
from emaillog.devmail import DevDovecot, ImapAccount
from emaillog.imapmailbox import ImapMailbox
from emaillog.poll import Pass

REP = "rita@acme.example"
SIZE = 300 * 1024 * 1024


def write_huge(path: Path, size: int) -> None:
    line = b"QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFB\r\n"
    with path.open("wb") as out:
        out.write(
            b"Delivered-To: log@acme.example\r\nFrom: Rita Rep <rita@acme.example>\r\n"
            b"To: carl@globex.example\r\nSubject: Huge\r\nMessage-ID: <huge@acme.example>\r\n"
            b"Date: Fri, 20 Nov 2026 10:30:00 +0000\r\nMIME-Version: 1.0\r\n"
            b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
            b"--b\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n"
            b"--b\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n"
            b"Content-Disposition: attachment; filename=big.bin\r\n\r\n"
        )
        block = line * (1024 * 1024 // len(line))
        while out.tell() < size:
            out.write(block)
        out.write(b"--b--\r\n")


class RecordingMailbox(ImapMailbox):
    """An ImapMailbox that notes every FETCH item it sends, as they go to imaplib."""

    items: list[str]

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.items = []
        original = self.client._imap._command

        def command(name, *args):  # type: ignore[no-untyped-def]
            words = [a.decode() if isinstance(a, bytes) else str(a) for a in (name, *args)]
            if "FETCH" in (w.upper() for w in words):
                self.items.extend(FETCH_ITEM.findall(" ".join(words)))
            return original(name, *args)

        self.client._imap._command = command


FETCH_ITEM = re.compile(r"BODY\.PEEK\[[^\]]*\](?:<[\d.]+>)?|RFC822\.SIZE")


def test_300_mb_message_is_malformed_without_being_fetched(
    tmp_path: Path, database_url: str, dovecot: DevDovecot, imap_account: ImapAccount
) -> None:
    world = make_world(tmp_path, database_url, imap_account)
    admin.add_user(world.store, world.settings, REP, "Rita Rep", active=True, may_log=True)
    dovecot.seed_maildir(imap_account.user, "INBOX", [])
    user_dir = dovecot.root / "mail" / imap_account.user
    huge = user_dir / "tmp" / f"{int(time.time())}.huge.devmail"
    write_huge(huge, SIZE)
    huge.rename(user_dir / "new" / huge.name)
    dovecot.seed_maildir(imap_account.user, "INBOX", [message(message_id="<small@acme.example>")])
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    mailbox = RecordingMailbox(world.settings.imap)
    try:
        started = time.process_time()
        report = Pass(world.settings, mailbox, world.store).run()
        cpu = time.process_time() - started
    finally:
        mailbox.close()
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) / 1024
    rows = {r["message_id"]: r for r in views.ledger(world.store)}
    huge_row = rows["<huge@acme.example>"]
    assert (huge_row["outcome"], huge_row["reason"], huge_row["folder"]) == ("rejected", "malformed", "Error")
    assert "over the limit of 200.0 MB" in huge_row["detail"]
    assert rows["<small@acme.example>"]["outcome"] == "logged"
    assert report.outcomes == {"logged": 1, "rejected": 1}
    # Only sizes, the whole of the small message, and the huge one's header were fetched.
    assert not [i for i in mailbox.items if "<" in i], mailbox.items  # no partial (chunked) fetch
    assert mailbox.items.count("BODY.PEEK[]") == 1 and "BODY.PEEK[HEADER]" in mailbox.items
    assert cpu < 10 and grown_mb < 100, (cpu, grown_mb)
    assert world.folder_counts() == {"INBOX": 0, "Processed": 1, "Error": 1}
