"""The stdlib's full parse of a message (``policy.default``), bounded, built only when asked for.

Parsing a message does not build it: ``mime.py`` walks the message and ``message.py`` reads what
the rules need from the walk. The forward reader does need the stdlib's tree (``Email.tree``), so
every Email carries a LazyTree, which parses on first use and keeps the result; it is also what
carries the forwards a parser worker read back to the daemon (never the tree). The bounds of such
a parse are here: header values cut to MAX_DECODED_HEADER (BOUNDED_DEFAULT, which
forwards/attached.py also reads an attached original with) and at most MAX_TREE_PARTS parts.
"""

from __future__ import annotations

from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import EmailPolicy
from typing import TYPE_CHECKING

from .headerfields import MAX_DECODED_HEADER
from .memo import cached_when_short

if TYPE_CHECKING:
    from .forwards.model import ForwardedMessage


class _BoundedPolicy(EmailPolicy):
    """``policy.default``, with every header value cut to MAX_DECODED_HEADER before it is parsed.

    Parsed header objects are also remembered: the stdlib parses a header anew on every access, and
    walking a tree asks each part for its Content-Type a dozen times — that was most of the time the
    forward reader spent on a message. Header objects are immutable, so sharing them is safe.
    """

    def header_fetch_parse(self, name, value):  # type: ignore[no-untyped-def]
        value = value[:MAX_DECODED_HEADER]
        if hasattr(value, "name"):  # parsed already
            return super().header_fetch_parse(name, value)
        return _parsed_header(name, value)


@cached_when_short(4096, 2048, lambda name, value: len(value))
def _parsed_header(name: str, value: str) -> object:
    return EmailPolicy.header_fetch_parse(BOUNDED_DEFAULT, name, value)


BOUNDED_DEFAULT = _BoundedPolicy()


# The most parts (containers and leaves) the stdlib's tree of a message may have. The walker's
# limits (SPEC §8) bound it first; the stdlib splits some things the walker does not (a lone CR
# is a line break to it, so boundaries the walker cannot see split parts for it), and 400 attached
# messages of 999 such parts (15 MB) took 17 s and 330 MB. Ten thousand parts: 0.2 s, 36 MB.
MAX_TREE_PARTS = 10_000


class TreeTooLarge(Exception):
    """The stdlib's tree of a message would have more than MAX_TREE_PARTS parts."""


def _counted_parts() -> type[EmailMessage]:
    """An EmailMessage class for one parse, which stops it after MAX_TREE_PARTS parts."""
    made = 0

    class Counted(EmailMessage):
        def __init__(self, policy: EmailPolicy | None = None) -> None:
            nonlocal made
            made += 1
            if made > MAX_TREE_PARTS:
                raise TreeTooLarge(f"the message splits into more than {MAX_TREE_PARTS} MIME parts")
            super().__init__(policy)

    return Counted


class LazyTree:
    """The stdlib's ``policy.default`` parse of a message, made on first use and kept, and what the
    forward reader found in it (``forwards``: None until read; see ``forwards.forwards_of``)."""

    __slots__ = ("_raw", "_tree", "forwards")

    def __init__(self, raw: bytes, forwards: tuple[ForwardedMessage, ...] | None = None) -> None:
        self._raw = raw
        self._tree: EmailMessage | None = None
        self.forwards = forwards

    def __reduce__(self) -> tuple[type[LazyTree], tuple[bytes, tuple[ForwardedMessage, ...] | None]]:
        # The tree is never shipped between processes (the receiver rebuilds it from the raw bytes it
        # holds); the forwards a parser worker read are, so the main process need not read them again.
        return LazyTree, (b"", self.forwards)

    def restore(self, raw: bytes) -> None:
        """Give a holder that came from another process the raw bytes it travelled without."""
        if not self._raw:
            self._raw = raw

    def get(self) -> EmailMessage:
        if self._tree is None:
            tree = BytesParser(_counted_parts(), policy=BOUNDED_DEFAULT).parsebytes(self._raw)
            assert isinstance(tree, EmailMessage)
            self._tree = tree
        return self._tree
