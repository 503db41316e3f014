"""The rule engine: derive facts, run the chain, return a decision with its trace."""

from .chain import DEFAULT_CHAIN, RULES, ChainError, Link, load_chain
from .decide import decide
from .model import ContactRef, DealRef, Decision, EmailPlan, Lookup, TraceEntry, UserRef

__all__ = [
    "DEFAULT_CHAIN",
    "RULES",
    "ChainError",
    "ContactRef",
    "DealRef",
    "Decision",
    "EmailPlan",
    "Link",
    "Lookup",
    "TraceEntry",
    "UserRef",
    "decide",
    "load_chain",
]
