"""Which never-log entry (SPEC §6) or company domain (§4) covers an address: looked up, not scanned.

never_log_entry tested each entry of the never-log list with within() for every recipient: thousands
of calls per address with a long list. It now looks up the address's domain and each domain above it
(domains.covering). The property tests hold it to the scan it replaced, kept here as the reference,
on generated addresses and entries with collisions, odd dots, case, Unicode and A-labels: the same
entries cover, and where several do, the answer is the most specific (the scan gave the first in set
iteration order, which varied with the hash seed; only the admin's message names the entry).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st
from support import make_settings

from emaillog.domains import covering, within
from emaillog.rules.recipients import never_log_entry, own_domain


def scanned_never_log_entry(key: str, never_log: frozenset[str]) -> str | None:
    """never_log_entry as it was before the lookup (2f4fa7a): the reference."""
    if key in never_log:
        return key
    domain = key.rpartition("@")[2]
    return next((entry for entry in never_log if "@" not in entry and within(domain, entry)), None)


def covering_entries(key: str, never_log: frozenset[str]) -> set[str]:
    """Every entry the scan could have returned, whatever the set's iteration order."""
    if key in never_log:
        return {key}
    domain = key.rpartition("@")[2]
    return {entry for entry in never_log if "@" not in entry and within(domain, entry)}


# Few labels, so that generated addresses and entries often meet; empty ones make leading, trailing
# and doubled dots; "bücher" and its A-label are different strings to within() and so stay apart.
LABELS = st.sampled_from(["a", "b", "eu", "acme", "example", "EXAMPLE", "bücher", "xn--bcher-kva", "", "co"])
DOMAINS = st.lists(LABELS, min_size=1, max_size=5).map(".".join)
LOCALS = st.sampled_from(["x", "carl", "a.b", ""])
ADDRESSES = st.one_of(
    st.builds(lambda local, domain: f"{local}@{domain}", LOCALS, DOMAINS),
    DOMAINS,  # no "@": the whole key is read as the domain
    st.builds(lambda a, b, domain: f"{a}@{b}@{domain}", LOCALS, LOCALS, DOMAINS),
)
ENTRIES = st.frozensets(st.one_of(DOMAINS, ADDRESSES), max_size=40)
# A few hundred examples each (well under a second); EMAILLOG_PROPERTY_EXAMPLES=5000 for a longer hunt.
EXAMPLES = int(os.environ.get("EMAILLOG_PROPERTY_EXAMPLES", "300"))


@settings(max_examples=EXAMPLES, deadline=None)
@given(key=ADDRESSES, never_log=ENTRIES)
def test_the_same_entries_cover_an_address_as_the_scan_found(key: str, never_log: frozenset[str]) -> None:
    found = never_log_entry(key, never_log)
    reference = scanned_never_log_entry(key, never_log)
    candidates = covering_entries(key, never_log)
    assert (found is None) == (reference is None)
    assert found is None or found in candidates
    # Every candidate but the key itself ends the domain, so the longest is the most specific.
    assert found == (max(candidates, key=len) if candidates else None)


@settings(max_examples=EXAMPLES, deadline=None)
@given(key=ADDRESSES, never_log=ENTRIES, data=st.data())
def test_an_entry_taken_from_the_address_covers_it(
    key: str, never_log: frozenset[str], data: st.DataObject
) -> None:
    # Random sets rarely cover; this adds one of the address's own parents (or the address itself).
    domain = key.rpartition("@")[2]
    parents = [key, domain] + [domain[i + 1 :] for i, c in enumerate(domain) if c == "."]
    entries = never_log | {data.draw(st.sampled_from(parents))}
    assert scanned_never_log_entry(key, entries) is not None
    assert never_log_entry(key, entries) == max(covering_entries(key, entries), key=len)


@settings(max_examples=EXAMPLES, deadline=None)
@given(domain=DOMAINS, parents=st.frozensets(DOMAINS, max_size=20))
def test_covering_is_the_most_specific_parent_within_accepts(domain: str, parents: frozenset[str]) -> None:
    accepted = [p for p in parents if within(domain, p)]
    assert covering(domain, parents) == (max(accepted, key=len) if accepted else None)


def test_the_most_specific_entry_is_named() -> None:
    entries = frozenset({"example", "c.example", "b.c.example", "x@a.b.c.example", "a.b.c.example.org"})
    assert never_log_entry("y@a.b.c.example", entries) == "b.c.example"
    assert never_log_entry("x@a.b.c.example", entries) == "x@a.b.c.example"
    assert never_log_entry("y@c.example", entries) == "c.example"
    assert never_log_entry("y@example.org", entries) is None
    assert never_log_entry("y@bc.example", entries) == "example"  # not "c.example": labels, not text


def test_an_address_entry_never_covers_a_domain_nor_another_address() -> None:
    entries = frozenset({"carl@globex.example", "globex.example@x"})
    assert never_log_entry("dora@globex.example", entries) is None
    assert never_log_entry("carl@mail.globex.example", entries) is None


def test_forms_within_keeps_apart_stay_apart() -> None:
    # Keys and entries are stored in U-labels, lower case, without a trailing dot (domain_key);
    # the lookup compares strings as within() does and normalises nothing itself.
    assert never_log_entry("x@bücher.example", frozenset({"xn--bcher-kva.example"})) is None
    assert never_log_entry("x@bücher.example", frozenset({"bücher.example"})) == "bücher.example"
    assert never_log_entry("x@globex.example", frozenset({"globex.example."})) is None
    assert never_log_entry("x@globex.example.", frozenset({"example."})) == "example."
    assert never_log_entry("x@globex.example.", frozenset({""})) == ""  # as within("a.", "") holds


class UnwalkableSet(frozenset[str]):
    """A never-log list that fails the test if anything iterates it: looking up is all it allows."""

    def __iter__(self) -> Iterator[str]:
        raise AssertionError("the never-log list was scanned entry by entry")


def test_the_never_log_list_is_looked_up_not_scanned() -> None:
    entries = UnwalkableSet(
        {"globex.example", "carl@initech.example"} | {f"c{i}.example" for i in range(1000)}
    )
    assert never_log_entry("dora@eu.globex.example", entries) == "globex.example"
    assert never_log_entry("carl@initech.example", entries) == "carl@initech.example"
    assert never_log_entry("dora@initech.example", entries) is None


def test_the_most_specific_company_domain_is_named(tmp_path: Path) -> None:
    own = make_settings(tmp_path, EMAILLOG_COMPANY_DOMAINS="acme.example,eu.acme.example,initech.example")
    assert own_domain("sales.eu.acme.example", own) == "eu.acme.example"
    assert own_domain("us.acme.example", own) == "acme.example"
    assert own_domain("initech.example", own) == "initech.example"
    assert own_domain("xacme.example", own) is None
