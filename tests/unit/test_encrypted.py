"""Encrypted mail (S/MIME, OpenPGP): recognised, never decrypted, logged with a statement of why its
content is missing, the encrypted part kept as it arrived; an encrypted forward's notice says so."""

from __future__ import annotations

import base64
import hashlib
import logging
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import SMTP, default
from pathlib import Path

import pytest
from support import (
    BCC,
    CMS_ENVELOPED,
    FWD,
    attached_forward,
    crm_with_rep,
    message,
    smime_encrypted,
)

from emaillog.batch import _log_line
from emaillog.encrypted import Sealed, sealed_structure
from emaillog.forwards import forwards_of
from emaillog.limits import Limits
from emaillog.message import Email, parse
from emaillog.mimeheader import read_header
from emaillog.notices.plan import notice_reason
from emaillog.rules import Decision, decide
from emaillog.settings import Settings
from emaillog.store import Store
from emaillog.store.ledger import LedgerKey
from emaillog.structure import Leaf

REP = "rita@acme.example"
CMS_SIGNED = bytes.fromhex("308006092a864886f70d010702a080")
CMS_AUTH_ENVELOPED = bytes.fromhex("3080060b2a864886f70d0109100117a080")
ARMOUR = (
    "-----BEGIN PGP MESSAGE-----\n\nhQEMA5VyIwBvGkl1AQf/Xb0Jk2m4ZlPqUv3s\n=Qx1T\n-----END PGP MESSAGE-----\n"
)

Crm = tuple[Store, Settings]


@pytest.fixture
def crm(tmp_path: Path) -> Crm:
    return crm_with_rep(tmp_path, REP, "Rita Rep")


def read(raw: bytes) -> Email:
    email = parse(raw, Limits())
    assert isinstance(email, Email)
    return email


def run(crm: Crm, raw: bytes) -> Decision:
    return decide(parse(raw, Limits()), crm[1], crm[0].lookup)


def pgp_mime(delivered_to: str = BCC) -> bytes:
    """A PGP/MIME encrypted email (RFC 3156 §4), as Thunderbird and Mailvelope send it."""
    msg = EmailMessage()
    msg["Delivered-To"] = delivered_to
    msg["From"] = "Rita Rep <rita@acme.example>"
    msg["To"] = "carl@globex.example"
    msg["Subject"] = "Contract terms"
    msg["Message-ID"] = "<pgp-1@acme.example>"
    msg.make_mixed()
    msg.set_type("multipart/encrypted")
    msg.set_param("protocol", "application/pgp-encrypted")
    control = EmailMessage()
    control.set_content(b"Version: 1\r\n", maintype="application", subtype="pgp-encrypted", cte="7bit")
    control["Content-Description"] = "PGP/MIME version identification"
    data = EmailMessage()
    data.set_content(
        ARMOUR.encode(), maintype="application", subtype="octet-stream", filename="encrypted.asc"
    )
    msg.attach(control)
    msg.attach(data)
    return msg.as_bytes(policy=SMTP)


# --- what the logged text says ------------------------------------------------------------------------


def test_smime_encrypted_email_says_so_and_keeps_its_p7m_as_it_arrived() -> None:
    raw = smime_encrypted()
    email = read(raw)
    assert email.sealed == Sealed("S/MIME", "enveloped-data")
    assert email.text == (
        "This email was encrypted (S/MIME), so its content cannot be shown here; the encrypted part is "
        "attached as it arrived, for someone with the key to open."
    )
    assert email.html is None
    [p7m] = email.attachments
    body = raw.split(b"\r\n\r\n", 1)[1]
    assert (p7m.filename, p7m.content_type) == ("smime.p7m", "application/pkcs7-mime")
    assert p7m.data == base64.b64decode(body) and p7m.sha256 == hashlib.sha256(p7m.data).hexdigest()
    # The headers are in clear: the email is read as any other.
    assert (email.subject, email.sender and email.sender.address) == ("Contract terms", REP)
    assert [a.address for a in email.to] == ["carl@globex.example"]


@pytest.mark.parametrize(
    ("smime_type", "content", "form"),
    [
        ("authEnveloped-data", CMS_AUTH_ENVELOPED, "authenveloped-data"),
        ('"enveloped-data"', CMS_ENVELOPED, "enveloped-data"),
        # No smime-type (older clients): the CMS content type is read from the DER.
        (None, CMS_ENVELOPED, "enveloped-data"),
        (None, CMS_AUTH_ENVELOPED, "authenveloped-data"),
        ("something-new", CMS_ENVELOPED, "enveloped-data"),
        # Unreadable: by far most likely encrypted, and unreadable either way.
        (None, b"\x00junk", "unknown"),
    ],
)
def test_every_form_of_smime_encryption_is_recognised(
    smime_type: str | None, content: bytes, form: str
) -> None:
    email = read(smime_encrypted(smime_type=smime_type, content=content + bytes(200)))
    assert email.sealed == Sealed("S/MIME", form)
    assert email.text.startswith("This email was encrypted (S/MIME)")


def test_x_pkcs7_mime_is_smime_too() -> None:
    raw = smime_encrypted().replace(b"application/pkcs7-mime", b"application/x-pkcs7-mime")
    assert read(raw).sealed == Sealed("S/MIME", "enveloped-data")


@pytest.mark.parametrize("smime_type", ["signed-data", None])
def test_opaque_signed_smime_is_a_wrapper_not_encryption(smime_type: str | None) -> None:
    email = read(smime_encrypted(smime_type=smime_type, content=CMS_SIGNED + bytes(300)))
    assert email.sealed == Sealed("S/MIME", "signed-data") and not email.sealed.encrypted
    assert email.text == (
        "This email came in an S/MIME signed wrapper that is not unpacked here, so its content cannot "
        "be shown; the wrapped part is attached as it arrived."
    )
    assert [a.filename for a in email.attachments] == ["smime.p7m"]


def test_a_certificate_only_message_is_not_sealed_content() -> None:
    email = read(smime_encrypted(smime_type="certs-only", content=CMS_SIGNED))
    assert email.sealed is None and email.text == ""


def test_pgp_mime_says_openpgp_and_keeps_both_parts() -> None:
    email = read(pgp_mime())
    assert email.sealed == Sealed("OpenPGP", "pgp-mime")
    assert email.text.startswith("This email was encrypted (OpenPGP), so its content cannot be shown")
    assert [a.content_type for a in email.attachments] == [
        "application/pgp-encrypted",
        "application/octet-stream",
    ]
    assert email.attachments[1].data == ARMOUR.encode()


def test_inline_pgp_keeps_the_armour_below_the_statement() -> None:
    email = read(message(body=ARMOUR))
    assert email.sealed == Sealed("OpenPGP", "inline-pgp")
    statement, rest = email.text.split("\n\n", 1)
    assert statement.startswith("This email's text was encrypted (OpenPGP), so it cannot be shown here")
    assert rest.strip() == ARMOUR.strip()


def test_an_encrypted_original_forwarded_inline_says_so() -> None:
    # The client could not decrypt it either: the header block is in clear, the body is armour.
    block = "FYI\n\n---------- Forwarded message ---------\nFrom: Carl Customer <carl@globex.example>\n"
    block += "Date: Fri, Nov 20, 2026 at 9:15 AM\nSubject: Terms\nTo: Rita Rep <rita@acme.example>\n\n"
    [original] = forwards_of(read(message(body=block + ARMOUR, delivered_to=FWD, subject="Fwd: Terms")))
    assert original.body.startswith("This email's text was encrypted (OpenPGP)")
    assert ARMOUR.strip() in original.body


def test_a_signed_file_attached_to_an_email_without_text_is_a_file_not_a_wrapper() -> None:
    # Italy's e-invoices: a signed invoice.xml.p7m, often in mail with no text at all.
    mail = EmailMessage()
    mail["From"] = REP
    mail["To"] = "carl@globex.example"
    mail.add_attachment(
        CMS_SIGNED + bytes(300), maintype="application", subtype="pkcs7-mime", filename="invoice.xml.p7m"
    )
    email = read(mail.as_bytes(policy=SMTP))
    assert email.sealed is None and email.text == ""
    assert [a.filename for a in email.attachments] == ["invoice.xml.p7m"]


@pytest.mark.parametrize(
    "body",
    [
        "Hi Carl,\n\nthe price is 40 EUR.\n",
        # Clear-signed (RFC 4880 §7) reads fine: only an encrypted block is sealed.
        "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\nHi Carl\n-----BEGIN PGP SIGNATURE-----\n",
        # Quoted in a sentence, not armour.
        "Paste it between -----BEGIN PGP MESSAGE----- and the end line.\n",
        # Quoted below the rep's own words (Outlook quotes without ">"): the reply reads fine.
        "Hi Carl, decrypted it, all fine.\n\n-----Original Message-----\nFrom: carl@globex.example\n\n"
        + ARMOUR,
    ],
)
def test_readable_text_is_left_alone(body: str) -> None:
    email = read(message(body=body))
    assert email.sealed is None and email.text.strip() == body.strip()


def test_multipart_signed_reads_as_it_always_did() -> None:
    signed = EmailMessage()
    signed["From"] = "Rita Rep <rita@acme.example>"
    signed["To"] = "carl@globex.example"
    signed["Subject"] = "Signed"
    inner = EmailMessage()
    inner.set_content("Hi Carl, signed text.")
    signature = EmailMessage()
    signature.set_content(CMS_SIGNED, maintype="application", subtype="pkcs7-signature", filename="smime.p7s")
    signed.make_mixed()
    signed.set_type("multipart/signed")
    signed.set_param("protocol", "application/pkcs7-signature")
    signed.attach(inner)
    signed.attach(signature)
    email = read(signed.as_bytes(policy=SMTP))
    assert email.sealed is None and email.text.strip() == "Hi Carl, signed text."


def test_an_encrypted_file_attached_to_a_readable_email_does_not_seal_it() -> None:
    with_file = EmailMessage()
    for name, value in (("From", REP), ("To", "carl@globex.example"), ("Subject", "Contract")):
        with_file[name] = value
    with_file.set_content("Hi Carl, the encrypted contract is attached.")
    with_file.add_attachment(
        CMS_ENVELOPED, maintype="application", subtype="pkcs7-mime", filename="contract.pdf.p7m"
    )
    email = read(with_file.as_bytes(policy=SMTP))
    assert email.sealed is None and email.text.strip() == "Hi Carl, the encrypted contract is attached."
    assert [a.filename for a in email.attachments] == ["contract.pdf.p7m"]


def test_an_encrypted_part_with_nothing_readable_beside_it_seals_the_email() -> None:
    # A gateway that wraps the encrypted body in multipart/mixed, with no text of its own.
    wrapper = EmailMessage()
    wrapper["From"] = REP
    wrapper["To"] = "carl@globex.example"
    wrapper.add_attachment(
        CMS_ENVELOPED, maintype="application", subtype="pkcs7-mime", filename="smime.p7m", params={}
    )
    [part] = wrapper.iter_attachments()
    part.set_param("smime-type", "enveloped-data")
    assert read(wrapper.as_bytes(policy=SMTP)).sealed == Sealed("S/MIME", "enveloped-data")


@pytest.mark.parametrize(
    "content_type",
    [
        "application/pkcs7-mime; smime-type*0*=us-ascii''envel; smime-type*1*=oped-data; name=smime.p7m",
        "application/pkcs7-mime; smime-type*=utf-8''%FF%FE; smime-type=x",
        "application/pkcs7-mime; smime-type=" + "e" * 200_000,
        'application/pkcs7-mime; smime-type="enveloped-data; name="smime.p7m',
        "application/pkcs7-mime; smime-type",
        "application/pkcs7-mime;;;; =;",
        "application/pkcs7-mime; smime-type=\x00\x01",
        "multipart/encrypted; protocol=application/pgp-encrypted",  # no boundary: one leaf
    ],
)
def test_hostile_content_type_parameters_never_crash(content_type: str) -> None:
    raw = smime_encrypted().replace(
        b'application/pkcs7-mime; smime-type=enveloped-data;\r\n name="smime.p7m"', content_type.encode()
    )
    email = read(raw)
    assert email.sealed is None or email.sealed.kind == "S/MIME"
    assert email.attachments


def test_an_attached_encrypted_original_is_logged_saying_so(crm: Crm) -> None:
    # Its headers are in clear, so it is logged as a BCC'd encrypted email is: saying so.
    raw = smime_encrypted(sender="Carl Customer <carl@globex.example>", to=REP, delivered_to=None)
    inner = message_from_bytes(raw, _class=EmailMessage, policy=default)
    assert isinstance(inner, EmailMessage)
    decision = run(crm, attached_forward(inner, sender=REP, subject="FW: Contract terms"))
    assert (decision.outcome, decision.route) == ("logged", "forward")
    [plan] = decision.plans
    assert plan.direction == "incoming" and plan.sender and plan.sender.address == "carl@globex.example"
    assert plan.text.startswith("This email was encrypted (S/MIME), so its content cannot be shown here")
    assert [a.filename for a in plan.attachments] == ["smime.p7m"]


# --- a large message, read from the server's structure --------------------------------------------------


def leaf(content_type: str, section: str = "1", **params: str) -> Leaf:
    return Leaf(section, content_type, params, "base64", 12_000_000, "attachment", "smime.p7m", False)


def test_a_large_encrypted_message_is_recognised_from_its_structure() -> None:
    header = read_header(smime_encrypted().split(b"\r\n\r\n", 1)[0] + b"\r\n")
    found = [leaf("application/pkcs7-mime", **{"smime-type": "enveloped-data"})]
    assert sealed_structure(header, found, "", None) == Sealed("S/MIME", "enveloped-data")
    # Without smime-type the bytes are not at hand: taken as encrypted.
    assert sealed_structure(header, [leaf("application/pkcs7-mime")], "", None) == Sealed("S/MIME", "unknown")
    pgp = [leaf("application/pgp-encrypted", "1"), leaf("application/octet-stream", "2")]
    assert sealed_structure(header, pgp, "", None) == Sealed("OpenPGP", "pgp-mime")
    plain = read_header(b"From: a@b.example\r\nContent-Type: multipart/mixed; boundary=x\r\n")
    assert sealed_structure(plain, found, "Hi Carl, file attached.", None) is None


# --- the trace, the log line and the notice ----------------------------------------------------------------


def test_bcc_decision_traces_the_content_as_encrypted(crm: Crm) -> None:
    decision = run(crm, smime_encrypted())
    assert decision.outcome == "logged"
    [plan] = decision.plans
    assert plan.text.startswith("This email was encrypted (S/MIME)")
    [entry] = [e for e in decision.trace if e.rule == "content"]
    assert (entry.hit, entry.reason, dict(entry.data)) == (
        True,
        "encrypted",
        {"kind": "S/MIME", "form": "enveloped-data"},
    )


def test_readable_mail_has_no_content_step(crm: Crm) -> None:
    assert not [e for e in run(crm, message()).trace if e.rule == "content"]


def test_the_log_line_says_encrypted(crm: Crm, caplog: pytest.LogCaptureFixture) -> None:
    key = LedgerKey("INBOX", 1, 7)
    with caplog.at_level(logging.INFO, logger="emaillog.pass"):
        _log_line(3, key, "<smime-1@acme.example>", run(crm, smime_encrypted()), 0.01)
        _log_line(4, key, "<m1@acme.example>", run(crm, message()), 0.01)
    sealed, clear = (r.getMessage() for r in caplog.records)
    assert sealed.endswith(" content=encrypted") and "outcome=logged" in sealed
    assert "content=" not in clear


@pytest.mark.parametrize(
    ("raw", "kind"),
    [
        (smime_encrypted(delivered_to=FWD, subject="FW: Contract terms"), "S/MIME"),
        (pgp_mime(delivered_to=FWD), "OpenPGP"),
        (message(delivered_to=FWD, subject="Fwd: terms", body=ARMOUR), "OpenPGP"),
    ],
)
def test_an_encrypted_forward_is_not_recognised_and_its_notice_says_encrypted(
    crm: Crm, raw: bytes, kind: str
) -> None:
    decision = run(crm, raw)
    assert (decision.route, decision.outcome, decision.reason) == (
        "forward",
        "rejected",
        "forward-not-recognised",
    )
    assert decision.detail == f"the forward was encrypted ({kind}), so no forwarded message could be read"
    assert decision.trace[-1].data["encrypted"] == kind
    found = notice_reason(decision, crm[1])
    assert found is not None
    reason, details = found
    assert reason == "forward-not-recognised"
    assert (details["variant"], details["encryption"]) == ("encrypted", kind)


def test_an_unrecognised_clear_forward_keeps_the_usual_notice(crm: Crm) -> None:
    decision = run(crm, message(delivered_to=FWD, subject="Fwd: hello", body="see below"))
    found = notice_reason(decision, crm[1])
    assert found is not None and "variant" not in found[1]


def test_an_opaque_signed_forward_is_told_apart_from_an_encrypted_one(crm: Crm) -> None:
    raw = smime_encrypted(delivered_to=FWD, smime_type="signed-data", content=CMS_SIGNED)
    decision = run(crm, raw)
    assert decision.reason == "forward-not-recognised" and "signed-data wrapper" in (decision.detail or "")
    found = notice_reason(decision, crm[1])
    assert found is not None and "variant" not in found[1]
