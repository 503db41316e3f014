"""Finding the forwarded message(s) in a whole message (SPEC §5 (a) attached, (b) inline)."""

from __future__ import annotations

from dataclasses import replace
from email.message import Message

from emaillog.encrypted import explained, sealed_text
from emaillog.forwards.attached import from_attachment
from emaillog.forwards.htmlcut import original_html
from emaillog.forwards.htmltext import html_to_text
from emaillog.forwards.inline import parse_inline
from emaillog.forwards.model import ForwardedMessage
from emaillog.forwards.parts import PART_ERRORS, attached_messages, body_of
from emaillog.htmltext import sanitise_html
from emaillog.message import Email

_QUICK_LOOK = 64 * 1024


def forwards_of(email: Email) -> tuple[ForwardedMessage, ...]:
    """The forwarded originals of ``email``, their HTML made safe to store; read once and kept.

    A parser worker reads them for a message that came through the forwarding address (the
    reading is most of a forward's CPU), and they travel back with the ``Email``.
    """
    holder = email.lazy_tree
    if holder.forwards is None:
        holder.forwards = tuple(_safe(original) for original in find_forwards(email.tree))
    return holder.forwards


def _safe(original: ForwardedMessage) -> ForwardedMessage:
    # An original forwarded inline as it came, encrypted, says so as a BCC'd one does (one read of
    # attached originals said so already: their text starts with the statement, not the armour).
    if (sealed := sealed_text(original.body)) is not None:
        original = replace(original, body=explained(original.body, sealed))
    return original if original.html is None else replace(original, html=sanitise_html(original.html))


def find_forwards(msg: Message) -> tuple[ForwardedMessage, ...]:
    """The top-most inline block (text, then HTML), else every attached message; () when none.

    An inline block in the forward's own body is the top-most forwarded message: a message/rfc822
    part beside it is a file the original carried (re-attached by the client), not the reply.
    """
    text = body_of(msg, "plain")
    subject = _subject(msg)
    found = parse_inline(text, subject) if text else None
    if found is None:
        found = _from_html(msg, subject)
    elif (html := body_of(msg, "html")) is not None:
        found = replace(found, html=original_html(html))
    if found is not None:
        return (found,)
    note = text.strip() or None if text else None
    return tuple(
        found for inner in attached_messages(msg) if (found := from_attachment(inner, note)) is not None
    )


def looks_forwarded(msg: Message) -> bool:
    """Cheap structural check for route detection: an attached message or a forward header block."""
    return forward_structure(msg) is not None


def forward_structure(msg: Message) -> str | None:
    """What makes ``msg`` a forward: "attached-message", "inline-text", "inline-html", or None."""
    if next(attached_messages(msg), None) is not None:
        return "attached-message"
    subject = _subject(msg)
    text = body_of(msg, "plain")
    if text and parse_inline(text[:_QUICK_LOOK], subject, reply_quotes=False) is not None:
        return "inline-text"
    html = body_of(msg, "html")
    if html and parse_inline(html_to_text(html[: _QUICK_LOOK * 4]), subject, reply_quotes=False) is not None:
        return "inline-html"
    return None


def _from_html(msg: Message, subject: str | None) -> ForwardedMessage | None:
    # Outlook desktop often sends HTML only, or a text part that is empty or base64 noise.
    html = body_of(msg, "html")
    if not html:
        return None
    found = parse_inline(html_to_text(html), subject)
    return None if found is None else replace(found, source="inline-html", html=original_html(html))


def _subject(msg: Message) -> str | None:
    try:
        value = msg.get("Subject")
    except PART_ERRORS:
        return None
    return None if value is None else str(value)
