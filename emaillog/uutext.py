"""Files uuencoded into a text body, as clients from before MIME (and some gateways still) send them.

A plain-text body holds "begin 644 prices.xls", lines of uuencode and "end". Thunderbird shows such
a block as an attachment and the text around it as the body; stored as it came, the CRM showed
kilobytes of "M1F]O…" lines as the email's text (and counted them toward the body limit), and the
file was nowhere. ``contents.py`` takes each block out of the text and keeps its file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .mimepart import Uudecoder

# A begin line (a Unix mode and a file name), then only lines of uuencode's characters (space to
# backtick: no lower-case letter, so prose is never one) up to an "end" line. Each data line ends at
# its line break, so a begin line without its end costs one look at the lines that follow it.
_BLOCK = re.compile(
    r"^begin[ \t]+[0-7]{3,4}[ \t]+(?P<name>[^\r\n]*[^\s])[ \t]*\r?\n"
    r"(?P<data>(?:[ -`]*\r?\n)*?)"
    r"end[ \t]*(?:\r?\n|\Z)",
    re.MULTILINE,
)


@dataclass(frozen=True, slots=True)
class UuFile:
    name: str  # as the begin line gives it: the caller makes it a safe display name
    data: bytes


def uuencoded_files(text: str, most: int) -> tuple[str, tuple[UuFile, ...]]:
    """``text`` without its uuencoded blocks, and the files they carry, at most ``most`` of them
    (any further block stays in the text: the message's part limit counts them)."""
    if "begin" not in text or most <= 0:
        return text, ()
    kept: list[str] = []
    files: list[UuFile] = []
    position = 0
    for block in _BLOCK.finditer(text):
        if len(files) == most:
            break
        decoder = Uudecoder()
        data = decoder.feed(block.group("data").encode("ascii")) + decoder.finish()
        files.append(UuFile(block.group("name"), data))
        kept.append(text[position : block.start()])
        position = block.end()
    if not files:
        return text, ()
    kept.append(text[position:])
    return "".join(kept), tuple(files)
