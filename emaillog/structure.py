"""The server's own MIME parse (IMAP BODYSTRUCTURE, RFC 3501 §7.4.2) as a flat list of leaves.

For a large message we let the server do the MIME work: the leaves say which sections are text to
read and which are attachments to stream to disk, without the message ever being held in memory.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from email.utils import decode_rfc2231
from typing import Any
from urllib.parse import unquote_to_bytes

from .headerfields import content_id, header_text, parameter_text
from .mimepart import transfer_encoding

MAX_LEAVES = 2000


@dataclass(frozen=True, slots=True)
class Leaf:
    section: str  # "1", "1.2", "2.1" … as BODY[section] wants it
    content_type: str  # lower-case type/subtype
    params: dict[str, str]
    encoding: str  # the server's Content-Transfer-Encoding, as ``mimepart.transfer_encoding`` reads it
    size: int  # encoded octets
    disposition: str | None
    filename: str | None
    inside_message: bool  # part of an attached message/rfc822
    content_id: str | None = None  # the body-id, as ``headerfields.content_id`` keeps it
    # The server could not join the file name's RFC 2231 pieces (``_unjoined``): ``filename`` is
    # None, and the name is read from the part's own header.
    filename_unjoined: bool = False

    @property
    def is_body_text(self) -> bool:
        return (
            self.content_type in ("text/plain", "text/html")
            and self.disposition != "attachment"
            and not self.inside_message
        )


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        # 8-bit bytes as the message's own parse reads a header's (UTF-8, else Windows-1252): a
        # file name written in raw Latin-1 was "Gr��e.pdf" here and "Grüße.pdf" in a small message.
        return header_text(value.decode("ascii", "surrogateescape"))
    return "" if value is None else str(value)


def _params(value: Any) -> dict[str, str]:
    if not isinstance(value, (tuple, list)):
        return {}
    items = [_text(v) for v in value]
    return {items[i].lower(): items[i + 1] for i in range(0, len(items) - 1, 2)}


def _disposition(value: Any) -> tuple[str | None, dict[str, str]]:
    if not isinstance(value, (tuple, list)) or not value:
        return None, {}
    return _text(value[0]).lower(), _params(value[1] if len(value) > 1 else None)


def leaves(body: Sequence[Any], section: str = "", inside_message: bool = False) -> Iterator[Leaf]:
    """Walk a BODYSTRUCTURE depth-first, yielding every non-multipart part with its section."""
    if isinstance(body[0], list):
        for number, part in enumerate(body[0], start=1):
            yield from leaves(part, f"{section}.{number}" if section else str(number), inside_message)
        return
    yield _leaf(body, section or "1", inside_message)


def _leaf(body: Sequence[Any], section: str, inside_message: bool) -> Leaf:
    content_type = f"{_text(body[0])}/{_text(body[1])}".lower()
    extension = 8 if content_type.startswith("text/") else 7
    if content_type == "message/rfc822":
        extension = 10
    disposition, disp_params = _disposition(body[extension + 1] if len(body) > extension + 1 else None)
    params = _params(body[2])
    filename = _filename(disp_params) or _filename(params, "name")
    unjoined = _unjoined(disp_params, "filename") or (not filename and _unjoined(params, "name"))
    return Leaf(
        section=section,
        content_type=content_type,
        params=params,
        encoding=transfer_encoding(_text(body[5])),
        size=int(body[6] or 0),
        disposition=disposition,
        # Outlook writes a non-ASCII name as RFC 2047 encoded words inside the quoted parameter, and
        # the server hands it over as written: decoded here as the small-message parse decodes it.
        filename=None if unjoined else filename,
        inside_message=inside_message,
        # The server's body-id is the first Content-ID field as written (Dovecot unfolds it): read
        # as the message's own parse reads the field, so both paths store the same id.
        content_id=content_id(_raw(body[3])),
        filename_unjoined=unjoined,
    )


def _raw(value: Any) -> str | None:
    """A string of the structure with its 8-bit bytes kept (``content_id`` decodes them as a header's)."""
    if isinstance(value, bytes):
        return value.decode("ascii", "surrogateescape")
    return None if value is None else str(value)


def _unjoined(params: dict[str, str], name: str) -> bool:
    """Whether the server left the parameter's RFC 2231 pieces as written (``name*0*``, ``name*1``)
    rather than joining them into ``name`` or ``name*``, as Dovecot does when their numbers are not
    0, 1, 2 …: a piece missing, or a name given whole beside its pieces (``name*=`` and
    ``name*0*=``, which buggy clients write), the whole one numbered as the piece before it in the
    field (0 if none). Its value cannot be told from the structure then."""
    return any(key.startswith(name + "*") and _PIECE.fullmatch(key, len(name) + 1) for key in params)


_PIECE = re.compile(r"[0-9]+\*?")


def _filename(params: dict[str, str], name: str = "filename") -> str | None:
    """A parameter value, decoding the RFC 2231 form (``filename*=utf-8''…``) as the message's own
    parse decodes it (``parameter_text``). That form is taken before a plain one beside it, as the
    message's own parse takes it (``mimeheader.ParsedHeader``); Dovecot joins its continuations."""
    encoded = params.get(name + "*")
    if encoded is None:
        return parameter_text(params[name]) if name in params else None
    charset, language, text = decode_rfc2231(encoded)
    return parameter_text((charset, language, unquote_to_bytes(text).decode("latin-1")))
