"""Large messages are read by sections with attachments streamed to disk (SPEC §8)."""

from __future__ import annotations

import hashlib
import os
import re
from email.message import EmailMessage
from email.policy import SMTP
from pathlib import Path

import pytest
from support import BCC, FWD, REP, World, make_world, message, smime_encrypted, with_picture

from emaillog import views
from emaillog.devmail import ImapAccount
from emaillog.imapmailbox import ImapMailbox
from emaillog.imapsections import SectionReader
from emaillog.limits import Limits
from emaillog.mailbox import Wanted
from emaillog.message import Email, parse
from emaillog.store.files import attachment_path
from emaillog.store.models import LoggedEmail


@pytest.fixture
def world(
    tmp_path: Path, database_url: str, imap_account: ImapAccount, monkeypatch: pytest.MonkeyPatch
) -> World:
    # Every message counts as large here, so the streaming path is the one under test.
    monkeypatch.setattr("emaillog.poll.STREAM_OVER", 1000)
    monkeypatch.setattr("emaillog.largemail.CHUNK", 4096)
    return make_world(tmp_path, database_url, imap_account)


def test_streamed_attachments_are_decoded_hashed_and_stored(world: World) -> None:
    payload = os.urandom(300_000)
    raw = message(to=["carl@globex.example"], attachments=[("big.bin", payload), ("small.txt", b"hello")])
    world.deliver(raw)
    assert world.run_pass().outcomes == {"logged": 1}
    [email] = views.emails(world.store)
    assert [(a["filename"], a["size"], a["logged"]) for a in email["attachments"]] == [
        ("big.bin", 300_000, True),
        ("small.txt", 5, True),
    ]
    digest = hashlib.sha256(payload).hexdigest()
    assert attachment_path(world.settings.attachments_dir, digest).read_bytes() == payload
    assert email["contacts"] == ["carl@globex.example"] and email["subject"] == "Proposal"
    [row] = views.ledger(world.store)
    assert (
        row["sha256"] == hashlib.sha256(raw.replace(b"\n", b"\r\n").replace(b"\r\r\n", b"\r\n")).hexdigest()
    )
    assert not any((world.settings.data_dir / "tmp").rglob("part-*"))


def test_large_body_text_is_refused_without_being_read(
    tmp_path: Path, database_url: str, imap_account: ImapAccount, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("emaillog.poll.STREAM_OVER", 1000)
    w = make_world(tmp_path, database_url, imap_account, EMAILLOG_MAX_BODY_MB="1")
    # Over four times the limit (quoted-printable's worst growth, see the next test): never read.
    w.deliver(message(body="y" * (5 * 1024 * 1024)))
    w.run_pass()
    assert [(r["outcome"], r["reason"]) for r in views.ledger(w.store)] == [("rejected", "body-too-large")]


def test_a_quoted_printable_body_under_the_limit_is_logged_however_large_its_encoding(
    tmp_path: Path, database_url: str, imap_account: ImapAccount, monkeypatch: pytest.MonkeyPatch
) -> None:
    # SPEC §8: "Email body over 2 MB (text and HTML parts, attachments not counted): not logged".
    # Russian text in quoted-printable is "=D0=97" per letter: 750 KB of body came as 2.2 MB, over
    # twice the 1 MB limit, and a message large enough to be streamed was refused unread.
    monkeypatch.setattr("emaillog.poll.STREAM_OVER", 1000)
    w = make_world(tmp_path, database_url, imap_account, EMAILLOG_MAX_BODY_MB="1")
    body = ("Здравствуйте, вот наше предложение.\n" * 11_000)[:400_000]
    original = EmailMessage()
    original["Delivered-To"] = BCC
    original["From"] = "Rita Rep <rita@acme.example>"
    original["To"] = "Carl Customer <carl@globex.example>"
    original["Subject"] = "Предложение"
    original["Date"] = "Fri, 20 Nov 2026 10:30:00 +0000"
    original["Message-ID"] = "<qp@acme.example>"
    original.set_content(body, cte="quoted-printable")
    raw = original.as_bytes(policy=SMTP)
    assert len(body.encode()) < 1024 * 1024 < 2 * 1024 * 1024 < len(raw)
    w.deliver(raw)
    w.run_pass()
    assert [(r["outcome"], r["reason"]) for r in views.ledger(w.store)] == [("logged", None)]
    [email] = views.emails(w.store)
    assert email["contacts"] == ["carl@globex.example"]
    assert LoggedEmail.get().text_body.replace("\r\n", "\n").strip() == body.strip()


def test_a_large_encrypted_message_says_so_from_the_servers_structure(world: World) -> None:
    # Its top-level Content-Type (what says "encrypted") is not in the skeleton the pass parses.
    world.deliver(smime_encrypted(content=os.urandom(200_000)))
    assert world.run_pass().outcomes == {"logged": 1}
    [listed] = views.emails(world.store)
    email = views.email_detail(world.store, listed["id"])
    assert email is not None and email["text_body"].startswith("This email was encrypted (S/MIME)")
    assert [(a["filename"], a["size"]) for a in email["attachments"]] == [("smime.p7m", 200_000)]


def test_forward_as_attachment_still_found_in_a_large_message(world: World) -> None:
    inner = message(
        sender="Carl <carl@globex.example>",
        to=[REP],
        subject="Pricing",
        message_id="<c1@globex.example>",
        delivered_to=None,
    )
    from email import message_from_bytes, policy
    from email.message import EmailMessage

    outer = EmailMessage()
    outer["Delivered-To"], outer["From"], outer["To"] = FWD, REP, FWD
    outer["Subject"], outer["Message-ID"] = "Fwd: Pricing", "<f1@acme.example>"
    outer.set_content("see attached")
    outer.add_attachment(message_from_bytes(inner, policy=policy.default))
    outer.add_attachment(os.urandom(50_000), maintype="application", subtype="zip", filename="specs.zip")
    world.deliver(bytes(outer))
    world.run_pass()
    [email] = views.emails(world.store)
    assert (email["direction"], email["from"], email["message_id"]) == (
        "incoming",
        "carl@globex.example",
        "<c1@globex.example>",
    )


@pytest.mark.parametrize(
    ("content_ids", "kept"),
    [
        ([b"<image001.png@01DA>"], "image001.png@01DA"),
        ([b"  < image001.png@01DA >  "], "image001.png@01DA"),
        ([b"<first@acme.example>", b"<second@acme.example>"], "first@acme.example"),
        ([b"<a b@acme.example>"], None),
        ([b"<" + b"x" * 400 + b"@acme.example>"], None),
        ([b"<a\r\n b@acme.example>"], None),
        (["<bild-\u00fc@acme.example>".encode()], "bild-\u00fc@acme.example"),
        ([], None),
    ],
)
def test_a_streamed_pictures_content_id_is_stored_as_a_whole_messages_is(
    world: World, content_ids: list[bytes], kept: str | None
) -> None:
    # Read from the server's BODYSTRUCTURE (its body-id), not from a header the pass parses.
    picture = os.urandom(200_000)
    raw = with_picture(content_ids, picture=picture)
    whole = parse(raw, Limits())
    assert isinstance(whole, Email) and [a.content_id for a in whole.attachments] == [kept]
    world.deliver(raw)
    assert world.run_pass().outcomes == {"logged": 1}
    [listed] = views.emails(world.store)
    email = views.email_detail(world.store, listed["id"])
    assert email is not None and "cid:image001.png@01DA" in email["html_body"]
    [stored] = email["attachments"]
    assert (stored["filename"], stored["size"], stored["content_id"]) == ("image001.png", 200_000, kept)
    assert Path(stored["path"]).read_bytes() == picture


@pytest.mark.parametrize("over_the_maximum", [False, True])
def test_a_large_message_moved_away_while_the_pass_reads_it_is_left_alone(
    tmp_path: Path,
    database_url: str,
    imap_account: ImapAccount,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    over_the_maximum: bool,
) -> None:
    monkeypatch.setattr("emaillog.poll.STREAM_OVER", 1000)
    w = make_world(tmp_path, database_url, imap_account, EMAILLOG_MAX_MESSAGE_MB="1")
    size = 1_200_000 if over_the_maximum else 300_000  # over 1 MB: read as its header alone
    w.deliver(message(message_id="<stays@acme.example>"))
    w.deliver(message(message_id="<goes@acme.example>", attachments=[("big.bin", b"x" * size)]))
    listed = ImapMailbox.sizes

    def a_person_moves_it_away(mailbox: ImapMailbox, uids: list[int]) -> dict[int, int]:
        sizes = listed(mailbox, uids)
        other = w.client()
        other.select_folder("INBOX")
        other.create_folder("Elsewhere")
        other.move([max(uids)], "Elsewhere")
        other.logout()
        return sizes

    monkeypatch.setattr(ImapMailbox, "sizes", a_person_moves_it_away)
    with caplog.at_level("INFO", logger="emaillog"):
        report = w.run_pass()
    monkeypatch.undo()
    assert report.outcomes == {"logged": 1, "failed": 1}
    assert "Traceback" not in caplog.text and "left the intake folder while it was read" in caplog.text
    assert [e["message_id"] for e in views.emails(w.store)] == ["<stays@acme.example>"]
    assert w.folder_counts() == {"INBOX": 0, "Processed": 1, "Error": 0}
    # Not counted against it, not recorded as rejected: the next pass settles its row as vanished.
    gone = next(r for r in views.ledger(w.store) if r["message_id"] != "<stays@acme.example>")
    assert gone["outcome"] not in ("rejected", "logged") and gone["folder"] is None
    w.run_pass()
    assert len(views.ledger(w.store)) == 2 and w.folder_counts()["Error"] == 0


def test_a_large_message_moved_away_while_its_attachment_streams_is_left_alone(
    world: World, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # The server answers the chunks after the move with NIL (Dovecot: "BODY[2]<8192> NIL"), which
    # ended the read as if the attachment were whole: logged with the first 8 kB of 300 kB.
    world.deliver(message(attachments=[("big.bin", os.urandom(300_000))]))
    fetch = SectionReader._fetch

    def a_person_moves_it_away(reader: SectionReader, items: list[str]) -> object:
        if re.fullmatch(r"BODY\.PEEK\[\d[\d.]*\]<8192\.\d+>", items[0]):  # an attachment's 3rd chunk
            other = world.client()
            other.select_folder("INBOX")
            other.create_folder("Elsewhere")
            other.move([reader.uid], "Elsewhere")
            other.logout()
        return fetch(reader, items)

    monkeypatch.setattr(SectionReader, "_fetch", a_person_moves_it_away)
    with caplog.at_level("INFO", logger="emaillog"):
        report = world.run_pass()
    assert report.outcomes == {"failed": 1}
    assert "left the intake folder while it was read" in caplog.text
    assert views.emails(world.store) == []


def test_a_copy_expunged_while_it_is_looked_for_is_not_counted(
    tmp_path: Path, imap_account: ImapAccount, monkeypatch: pytest.MonkeyPatch
) -> None:
    # copies_in (a move without MOVE, cut short) hashes the candidates a SEARCH found; one expunged
    # by another session in between answers NIL, and the look must go on without it.
    world = make_world(tmp_path, f"sqlite:///{tmp_path / 'db.sqlite3'}", imap_account)
    raw = message(message_id="<twice@acme.example>")
    client = world.client()
    client.create_folder("Processed")
    client.logout()
    world.deliver(raw, raw, folder="Processed")
    mailbox = ImapMailbox(world.settings.imap)  # type: ignore[arg-type]
    try:
        mailbox.select("Processed")
        [size] = mailbox.sizes([1]).values()
        [body] = mailbox.fetch([1]).values()
        hashed = SectionReader.sha256

        def expunged_first(reader: SectionReader) -> str:
            if reader.uid == 1:
                other = world.client()
                other.select_folder("Processed")
                other.delete_messages([1])
                other.expunge()
                other.logout()
            return hashed(reader)

        monkeypatch.setattr(SectionReader, "sha256", expunged_first)
        wanted = Wanted(hashlib.sha256(body).hexdigest(), size, "<twice@acme.example>")
        assert mailbox.copies_in("Processed", [wanted]) == {wanted.sha256: 1}
    finally:
        mailbox.close()
