"""Finding and reading forwarded messages: attached message/rfc822 parts and inline blocks."""

from emaillog.forwards.dates import zone_written
from emaillog.forwards.find import find_forwards, forward_structure, forwards_of, looks_forwarded
from emaillog.forwards.inline import parse_inline
from emaillog.forwards.model import ForwardedMessage

__all__ = [
    "ForwardedMessage",
    "find_forwards",
    "forward_structure",
    "forwards_of",
    "looks_forwarded",
    "parse_inline",
    "zone_written",
]
