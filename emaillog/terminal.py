"""Database text shown in a terminal: subjects, names and file names are senders' (or a CSV file's)
text, so each value is kept on its line and no control character reaches the terminal, where ESC
sequences could rewrite the screen or a newline could pass for another field."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from .notices.text import human_size


def shown(value: Any) -> str:
    """One value on one line: unprintable characters escaped, lists joined, None as "-"."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(shown(v) for v in value) or "-"
    if isinstance(value, dict):
        # A connected address with its time, a company with its name: "first (the rest)".
        first, *rest = (shown(v) for v in value.values())
        return f"{first} ({', '.join(rest)})" if rest else first
    return printable(str(value)) or ""


def row_line(row: dict[str, Any], columns: Sequence[str]) -> str:
    """A listing's row as ``column=value`` pairs, as every ``list`` command prints them."""
    return "  ".join(f"{c}={shown(row.get(c))}" for c in columns)


def fields(record: dict[str, Any], names: Sequence[str]) -> list[str]:
    """``name: value`` lines of a record, the names aligned."""
    width = max(len(n) for n in names) + 1
    return [f"{(name + ':').ljust(width)} {shown(record.get(name))}" for name in names]


def block(text: str | None, indent: str = "  ") -> list[str]:
    """A multi-line text (a body) indented under its heading, each line escaped on its own."""
    lines = (text or "").replace("\r\n", "\n").expandtabs(4).split("\n")
    return [indent + shown(line) for line in lines]


EMAIL_FIELDS = (
    "id",
    "subject",
    "date",
    "direction",
    "route",
    "owner",
    "owner_name",
    "from",
    "from_name",
    "to",
    "cc",
    "message_id",
    "in_reply_to",
    "references",
    "thread_parent",
    "contacts",
    "companies",
    "deals",
    "note",
    "logged_at",
)


def email_lines(email: dict[str, Any], *, html: bool) -> list[str]:
    """``emails show``: the headers and links, the attachments, the text body; the sanitised HTML
    only when asked for (it is long, and the text body says the same)."""
    lines = fields(email, EMAIL_FIELDS)
    lines.append(f"attachments: {len(email['attachments'])}")
    lines += [f"  {_attachment(a)}" for a in email["attachments"]]
    lines += ["text:", *block(email["text_body"])]
    if html:
        lines += ["html:", *(block(email["html_body"]) if email["html_body"] else ["  -"])]
    return lines


def _attachment(a: dict[str, Any]) -> str:
    size = f"{human_size(a['size'])} ({a['size']} bytes)"
    where = a["path"] if a["logged"] else "left out (over the size limit), not stored"
    # The id the HTML shows the file by (an inline picture): "cid:image001.png@01DA…".
    cid = [f"cid:{a['content_id']}"] if a.get("content_id") else []
    return "  ".join(shown(v) for v in (a["filename"], a["content_type"], size, where, *cid))


CONTACT_FIELDS = ("id", "name", "addresses", "company", "created")


def contact_lines(contact: dict[str, Any]) -> list[str]:
    """``contacts show``: the contact, then a line per deal and per email logged on it."""
    lines = fields(contact, CONTACT_FIELDS)
    lines.append(f"deals: {len(contact['deals'])}")
    lines += [_item(d, ("state", "created", "name")) for d in contact["deals"]]
    lines.append(f"emails: {len(contact['emails'])}")
    lines += [_item(e, ("date", "direction", "owner", "subject")) for e in contact["emails"]]
    return lines


def _item(row: dict[str, Any], columns: Sequence[str]) -> str:
    """A deal or an email under a contact: its id, then the values."""
    return "  ".join([f"  #{row['id']}", *(shown(row[c]) for c in columns)])


def printable(value: str | None) -> str | None:
    """``value`` with unprintable characters escaped: in a log line too, where a Message-ID is the
    sender's text and ESC or C1 controls drive terminals and make journalctl show "[blob data]"."""
    if value is None or value.isprintable():
        return value
    return "".join(c if c.isprintable() else _escaped(c) for c in value)


def _escaped(char: str) -> str:
    code = ord(char)
    return f"\\x{code:02x}" if code < 256 else f"\\u{code:04x}"


def json_text(data: Any) -> str:
    """``data`` as indented JSON for a terminal or a program: letters of every script written as they
    are, and every unprintable character (a bidi override, a C1 control such as CSI, DEL, a line
    separator) as a JSON escape. ``json`` escapes only the C0 controls: with ``ensure_ascii=False`` the
    others reached the terminal raw from a subject or a name."""
    text = json.dumps(data, indent=2, ensure_ascii=False)
    # Outside strings the text holds only printable ASCII and the indent's newlines.
    return "\n".join(line if line.isprintable() else _json_escaped(line) for line in text.split("\n"))


def _json_escaped(line: str) -> str:
    return "".join(c if c.isprintable() else _json_escape(ord(c)) for c in line)


def _json_escape(code: int) -> str:
    if code > 0xFFFF:  # written as its UTF-16 surrogate pair, as JSON writes such a character
        code -= 0x10000
        return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"
    return f"\\u{code:04x}"
