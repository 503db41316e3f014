"""The chain: an ordered list of (rule, action) as data, and the short loop that runs it.

Modelled on GNU Mailman 3's rules and chains, without global state. The default chain lives here;
``config/chain.toml`` may reorder it or change an action. An unknown or repeated rule name stops
start-up, so a typo can never switch a rule off silently.
"""

from __future__ import annotations

import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

from .body_too_large import BodyTooLarge
from .forward_not_recognised import ForwardNotRecognised
from .model import Facts, Hit
from .never_log_sender import NeverLogSender
from .nothing_to_log import NothingToLog
from .sender_not_a_user import SenderNotAUser
from .sender_not_permitted import SenderNotPermitted
from .unauthenticated import Unauthenticated

Action = Literal["reject", "skip"]
ACTIONS: tuple[Action, ...] = ("reject", "skip")


class Rule(Protocol):
    name: str

    def check(self, facts: Facts) -> Hit | None: ...


RULES: dict[str, Rule] = {
    rule.name: rule
    for rule in (
        Unauthenticated(),
        BodyTooLarge(),
        SenderNotAUser(),
        SenderNotPermitted(),
        ForwardNotRecognised(),
        NeverLogSender(),
        NothingToLog(),
    )
}


@dataclass(frozen=True, slots=True)
class Link:
    rule: str
    action: Action


DEFAULT_CHAIN: tuple[Link, ...] = (
    Link("unauthenticated", "reject"),
    Link("body-too-large", "reject"),
    Link("sender-not-a-user", "reject"),
    Link("sender-not-permitted", "reject"),
    Link("forward-not-recognised", "reject"),
    Link("never-log", "skip"),
    Link("no-recipients", "skip"),
)


class ChainError(ValueError):
    """A chain that names an unknown rule or action, or a rule twice."""


def validate(chain: Sequence[Link]) -> tuple[Link, ...]:
    names = [link.rule for link in chain]
    unknown = sorted(set(names) - set(RULES))
    if unknown:
        raise ChainError(f"unknown rule(s) {', '.join(unknown)}; known: {', '.join(sorted(RULES))}")
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ChainError(f"rule(s) listed twice: {', '.join(repeated)}")
    bad = sorted({link.action for link in chain} - set(ACTIONS))
    if bad:
        raise ChainError(f"unknown action(s) {', '.join(bad)}; use reject or skip")
    return tuple(chain)


def load_chain(path: Path | None) -> tuple[Link, ...]:
    """The chain from a TOML file (``[[link]] rule = "…" action = "…"``), else the default."""
    if path is None:
        return DEFAULT_CHAIN
    if not path.is_file():
        # A mistyped path must not switch the admin's chain off silently.
        raise ChainError(f"{path} does not exist or is not a file")
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ChainError(f"{path}: {exc}") from exc
    return validate([_link(path, number, item) for number, item in enumerate(_links(path, data), 1)])


def _links(path: Path, data: dict[str, Any]) -> list[Any]:
    # An empty file or a misspelt [[links]] was an empty chain: every rule off, mail from anyone logged.
    unknown = sorted(set(data) - {"link"})
    if unknown:
        raise ChainError(
            f"{path}: {', '.join(map(repr, unknown))} is not [[link]] (each link: rule and action)"
        )
    if "link" not in data:
        raise ChainError(
            f"{path} has no [[link]] table: write each rule to run (config/chain.toml has them all)"
        )
    if not isinstance(data["link"], list):
        raise ChainError(f"{path}: link must be [[link]] tables, each with a rule and an action")
    return data["link"]


def _link(path: Path, number: int, item: Any) -> Link:
    """Link ``number`` (from 1) of the file, named in every problem (was a bare KeyError: 'action')."""
    if not isinstance(item, dict):
        raise ChainError(f"{path}: link {number} is not a table with a rule and an action")
    missing = [key for key in ("rule", "action") if not isinstance(item.get(key), str)]
    extra = sorted(set(item) - {"rule", "action"})
    if missing or extra:
        said = [f"no {key} (a string)" for key in missing] + [f"unknown key {key!r}" for key in extra]
        raise ChainError(f"{path}: link {number}: {'; '.join(said)}")
    return Link(item["rule"], item["action"])
