"""Encrypted and opaquely wrapped mail (S/MIME, OpenPGP): recognised, never opened, and said so.

emaillog holds no keys and must not try to decrypt. Its headers are in clear, so an encrypted email
is logged as any other; what changes is its text, which says in one sentence why the content is
missing, while the encrypted part stays attached as it arrived (whoever has the key can open it).

What is recognised:
- S/MIME (RFC 8551 §3.2): ``application/pkcs7-mime`` (or the older ``application/x-pkcs7-mime``)
  with ``smime-type`` enveloped-data or authEnveloped-data is encrypted; signed-data and
  compressed-data are wrappers we do not unpack; certs-only carries no content. Without a usable
  ``smime-type`` the CMS content type is read from the first bytes of the part (its DER OID).
- PGP/MIME (RFC 3156 §4): the ``application/pgp-encrypted`` control part of ``multipart/encrypted``.
- Inline PGP (RFC 4880 §6.2): a text body holding ``-----BEGIN PGP MESSAGE-----`` armour.

Everything read here is a stranger's header: parameters are read through the walker's lenient
``get_param`` and cut short, and only the first few hundred bytes of a part are ever decoded.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from email.message import Message
from functools import partial
from typing import TYPE_CHECKING, Literal

from .mimepart import Part
from .pickling import pickled_by_fields

if TYPE_CHECKING:
    # Only an annotation here (the leaves sealed_structure reads): nothing of structure.py runs.
    from .structure import Leaf

Kind = Literal["S/MIME", "OpenPGP"]

SMIME_TYPES = frozenset({"application/pkcs7-mime", "application/x-pkcs7-mime"})
_PGP_CONTROL = "application/pgp-encrypted"
_WHOLE_MESSAGE_TYPES = SMIME_TYPES | {"multipart/encrypted"}
_WRAPPER_FORMS = {"signed-data": "signed", "compressed-data": "compressed"}
# The smime-type values that name content (RFC 8551 §3.2.2); certs-only carries none.
_DECLARED_FORMS = frozenset({"enveloped-data", "authenveloped-data", *_WRAPPER_FORMS})

# CMS content-type OIDs as DER writes them (tag 06, length, value): RFC 5652 §3 and RFC 5083 §1.
_OIDS = (
    (bytes.fromhex("06092a864886f70d010703"), "enveloped-data"),
    (bytes.fromhex("060b2a864886f70d0109100117"), "authenveloped-data"),
    (bytes.fromhex("06092a864886f70d010702"), "signed-data"),
    (bytes.fromhex("060b2a864886f70d0109100109"), "compressed-data"),
)
# The OID follows the outer SEQUENCE's tag and length (at most 5 bytes long): it is near the start.
_HEAD_BYTES = 32
# Base64 characters (with their line breaks) enough to decode _HEAD_BYTES.
_HEAD_SOURCE = 256
_ARMOUR = "-----BEGIN PGP MESSAGE-----"


@pickled_by_fields
@dataclass(frozen=True, slots=True)
class Sealed:
    """What kind of sealed content a message carries instead of readable text.

    ``form``: enveloped-data, authenveloped-data, signed-data or compressed-data (S/MIME), unknown
    (an S/MIME part whose type could not be read: taken as encrypted, by far the usual case),
    pgp-mime or inline-pgp (OpenPGP).
    """

    kind: Kind
    form: str

    @property
    def encrypted(self) -> bool:
        return self.form not in _WRAPPER_FORMS

    @property
    def label(self) -> str:
        """One word for the trace and the log line: "encrypted" or "opaque-signed"/"compressed"."""
        return "encrypted" if self.encrypted else f"opaque-{_WRAPPER_FORMS[self.form]}"

    def statement(self) -> str:
        """The sentence a CRM user reads in place of the content."""
        if self.form == "inline-pgp":
            return (
                "This email's text was encrypted (OpenPGP), so it cannot be shown here; the encrypted "
                "text follows as it arrived, for someone with the key to open."
            )
        if self.encrypted:
            return (
                f"This email was encrypted ({self.kind}), so its content cannot be shown here; the "
                "encrypted part is attached as it arrived, for someone with the key to open."
            )
        return (
            f"This email came in an S/MIME {_WRAPPER_FORMS[self.form]} wrapper that is not unpacked "
            "here, so its content cannot be shown; the wrapped part is attached as it arrived."
        )


def explained(text: str, sealed: Sealed | None) -> str:
    """The text to store: the statement first, then whatever readable text there was."""
    if sealed is None:
        return text
    return f"{sealed.statement()}\n\n{text}" if text.strip() else sealed.statement()


def sealed_message(header: Message, parts: Iterable[Part], text: str, html: str | None) -> Sealed | None:
    """What ``header`` and its walked ``parts`` seal, or None; ``text``/``html`` are the bodies read."""
    return _judge(header, _sealed_parts(parts), text, html)


def sealed_structure(header: Message, leaves: Iterable[Leaf], text: str, html: str | None) -> Sealed | None:
    """The same for a large message read from the server's BODYSTRUCTURE (its parts never held).

    Its parts' bytes are not at hand, so an S/MIME part without ``smime-type`` is taken as encrypted.
    """
    found = (
        _sealed(leaf.content_type, _smime_type(leaf.params.get("smime-type")), lambda: b"")
        for leaf in leaves
        if not leaf.inside_message
    )
    return _judge(header, found, text, html)


def sealed_text(text: str) -> Sealed | None:
    """Text that is an OpenPGP message (inline PGP): an original read from an inline forward."""
    return Sealed("OpenPGP", "inline-pgp") if _armoured(text) else None


def _sealed_parts(parts: Iterable[Part]) -> Iterator[Sealed | None]:
    for part in parts:
        kind = part.content_type
        # Every message comes through here: its parameters are read only for the types that matter.
        if kind == _PGP_CONTROL or kind in SMIME_TYPES:
            yield _sealed(kind, _smime_type(part.header.get_param("smime-type")), partial(_head, part))


def _judge(header: Message, found: Iterable[Sealed | None], text: str, html: str | None) -> Sealed | None:
    """A sealed part makes the message sealed when it is the message (its top-level type), or when
    it is encrypted and there is nothing readable beside it (a gateway's wrapping); an encrypted file
    attached to a readable email does not. A signed one beside no text is a signed file, not a
    wrapper of the message: Italy's e-invoices come as ``invoice.xml.p7m`` in mail without a body."""
    sealed = next((s for s in found if s is not None), None)
    if sealed is not None:
        whole = header.get_content_type() in _WHOLE_MESSAGE_TYPES
        if whole or (sealed.encrypted and not (text.strip() or (html or "").strip())):
            return sealed
    return sealed_text(text)


def _armoured(text: str) -> bool:
    """Whether the text is an OpenPGP message: its first line is the armour's. Armour further down
    is quoted (a reply or a forward written below the rep's own words) and the text reads fine."""
    first = text.lstrip()[: len(_ARMOUR) + 8].partition("\n")[0]
    return first.rstrip() == _ARMOUR


def _sealed(content_type: str, smime_type: str, head: Callable[[], bytes]) -> Sealed | None:
    if content_type == _PGP_CONTROL:
        return Sealed("OpenPGP", "pgp-mime")
    if content_type not in SMIME_TYPES or smime_type == "certs-only":
        return None
    form = smime_type if smime_type in _DECLARED_FORMS else _form_by_oid(head())
    return Sealed("S/MIME", form)


def _smime_type(value: object) -> str:
    """An ``smime-type`` parameter value, lower-case and bounded; "" when absent or unreadable."""
    # An RFC 2231 value comes as a (charset, language, text) tuple: its text is what matters.
    if isinstance(value, tuple) and len(value) == 3:
        value = value[2]
    return value[:40].strip().strip('"').lower() if isinstance(value, str) else ""


def _form_by_oid(head: bytes) -> str:
    window = head[:_HEAD_BYTES]
    return next((form for oid, form in _OIDS if oid in window), "unknown")


def _head(part: Part) -> bytes:
    """The first decoded bytes of ``part``, decoding only the start of its body."""
    return replace(part, end=min(part.end, part.start + _HEAD_SOURCE)).decoded()[:_HEAD_BYTES]
