"""Measure the forward reader on crisp's forwarded-message corpus.

    .venv/bin/python bench/forwards_corpus.py [CORPUS_DIR]

Prints cases passed, passes per field, client and locale, dates read right (checked against a table
written by hand from the fixtures, not against the code under test), and inline forwards per second.
"""

from __future__ import annotations

import json
import re
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from emaillog.forwards import ForwardedMessage, parse_inline

DEFAULT_CORPUS = Path(__file__).resolve().parent.parent / ".." / "shared" / "corpus" / "crisp-forwards"
_LOCALE = re.compile(r"_(pt_br|[a-z]{2})_(?:body|subject)")

# (year, month, day, hour, minute) as written in each positive fixture, read by eye; the first
# matching prefix wins. Fixtures of one client share their date except where listed first.
EXPECTED_WHEN: list[tuple[str, tuple[int, int, int, int, int]]] = [
    ("apple_mail_en_body_variant_13", (2022, 8, 17, 9, 6)),
    ("apple_mail_en_body_variant_6", (2021, 7, 16, 19, 24)),
    ("apple_mail_en_body_variant_7", (2021, 7, 16, 19, 24)),
    ("apple_mail_en", (2021, 10, 25, 11, 17)),
    ("apple_mail_", (2021, 10, 26, 14, 25)),
    ("gmail_en_body_variant_14", (2023, 4, 6, 16, 17)),
    ("gmail_en_body_variant_15", (2023, 4, 6, 16, 17)),
    ("gmail_", (2021, 10, 27, 9, 31)),
    ("hubspot_fr", (2022, 9, 19, 15, 20)),
    ("hubspot_", (2022, 9, 19, 17, 55)),
    ("ionos_", (2023, 2, 10, 16, 52)),
    ("mailmate_", (2021, 10, 27, 9, 31)),
    ("missive_en_body_variant_1", (2022, 7, 19, 15, 36)),
    ("missive_en_body_variant_2", (2022, 7, 19, 15, 36)),
    ("missive_en_body_variant_3", (2022, 7, 1, 17, 3)),
    ("missive_", (2022, 7, 19, 15, 9)),
    ("new_outlook_2019_en_body_variant_14", (2023, 4, 6, 16, 17)),
    ("new_outlook_2019_en_body_variant_15", (2023, 4, 6, 16, 17)),
    ("new_outlook_2019_cs", (2021, 10, 28, 12, 6)),
    ("new_outlook_2019_da", (2021, 10, 28, 12, 6)),
    ("new_outlook_2019_fi", (2021, 10, 28, 12, 6)),
    ("new_outlook_2019_fr", (2021, 10, 28, 12, 6)),
    ("new_outlook_2019_nl", (2021, 10, 28, 12, 6)),
    ("new_outlook_2019_", (2021, 10, 28, 12, 46)),
    ("outlook_2013_", (2021, 10, 25, 11, 17)),
    ("outlook_2019_", (2021, 10, 28, 12, 46)),
    ("outlook_live_en_body_variant_14", (2023, 4, 6, 16, 17)),
    ("outlook_live_en_body_variant_15", (2023, 4, 6, 16, 17)),
    ("outlook_live_", (2021, 10, 27, 15, 14)),
    ("thunderbird_en_body_variant_14", (2023, 4, 6, 16, 17)),
    ("thunderbird_en_body_variant_15", (2023, 4, 6, 16, 17)),
    ("thunderbird_", (2021, 11, 3, 15, 51)),
    ("unknown_en_body_variant_12", (2022, 7, 23, 7, 53)),
    ("yahoo_", (2021, 11, 2, 9, 26)),
]


def crisp_view(found: ForwardedMessage | None) -> dict[str, Any]:
    """Our result in crisp's shape: paths such as ``email.to.0.name`` to values (null is not "")."""
    if found is None:
        return {"forwarded": False}
    view: dict[str, Any] = {
        "forwarded": True,
        "message": found.note,
        "email.subject": found.subject,
        "email.body": found.body,
        "email.date:typeof": "string" if found.date_text is not None else "object",
        "email.date:length>1": found.date_text is not None and len(found.date_text) > 1,
        "email.from.address": found.sender.address if found.sender else None,
        "email.from.name": found.sender.name if found.sender else found.sender_name,
        "email.cc.length": len(found.cc),
    }
    people = [(a.address, a.name) for a in found.to] + [(None, n) for n in found.to_names]
    for key, group in (("to", people), ("cc", [(a.address, a.name) for a in found.cc])):
        for index, (address, name) in enumerate(group):
            view[f"email.{key}.{index}.address"] = address
            view[f"email.{key}.{index}.name"] = name
    return view


def holds(view: dict[str, Any], assertion: dict[str, Any]) -> bool:
    path, expected = assertion["path"], assertion["expected"]
    starts = re.fullmatch(r'email\.body\.startsWith\("(.*)"\)', path, re.DOTALL)
    if starts:
        prefix = json.loads('"' + starts.group(1) + '"')
        return (view.get("email.body") or "").startswith(prefix) == expected
    if assertion["op"] == "equal" and expected in (True, False):
        return bool(view.get(path)) == expected
    return path in view and view[path] == expected


def load(corpus: Path) -> list[tuple[str, dict[str, Any], str, str | None]]:
    cases = json.loads((corpus / "expected.json").read_text(encoding="utf-8"))
    loaded = []
    for name, case in cases.items():
        body = (corpus / "fixtures" / Path(case["body_fixture"]).name).read_text(encoding="utf-8")
        subject = None
        if case.get("subject_fixture"):
            subject = (corpus / "fixtures" / Path(case["subject_fixture"]).name).read_text(encoding="utf-8")
            subject = subject.strip()
        loaded.append((name, case, body, subject))
    return loaded


def expected_when(name: str) -> tuple[int, int, int, int, int] | None:
    return next((when for prefix, when in EXPECTED_WHEN if name.startswith(prefix)), None)


def score(loaded: list[tuple[str, dict[str, Any], str, str | None]]) -> None:
    passed, fields, fields_total = 0, Counter[str](), Counter[str]()
    by_client, by_client_total = Counter[str](), Counter[str]()
    by_locale, by_locale_total = Counter[str](), Counter[str]()
    dates_right = positives = 0
    failures: list[str] = []
    for name, case, body, subject in loaded:
        found = parse_inline(body, subject)
        view = crisp_view(found)
        ok = True
        for assertion in case["assertions"]:
            field = assertion["path"].split(".startsWith")[0]
            fields_total[field] += 1
            if holds(view, assertion):
                fields[field] += 1
            else:
                ok = False
                failures.append(
                    f"{name}: {assertion['path']} expected {assertion['expected']!r}, "
                    f"got {view.get(assertion['path'])!r}"
                )
        client, locale = _client_locale(name)
        by_client_total[client] += 1
        by_locale_total[locale] += 1
        if ok:
            passed += 1
            by_client[client] += 1
            by_locale[locale] += 1
        if case["expected"].get("forwarded"):
            positives += 1
            dates_right += _date_right(name, found)
    print(f"cases passed: {passed} / {len(loaded)}")
    _table("per field", fields, fields_total)
    _table("per client", by_client, by_client_total)
    _table("per locale", by_locale, by_locale_total)
    print(f"positive cases with the right timestamp (Y-M-D h:m as written): {dates_right} / {positives}")
    for failure in failures[:40]:
        print("  FAIL", failure[:300])


def _date_right(name: str, found: ForwardedMessage | None) -> int:
    when = expected_when(name)
    if found is None or found.date is None or when is None or found.date.tzinfo is None:
        if when is None:
            print(f"  no expected date for {name}")
        return 0
    got = (found.date.year, found.date.month, found.date.day, found.date.hour, found.date.minute)
    if got != when:
        print(f"  DATE {name}: expected {when}, got {got} from {found.date_text!r}")
    return int(got == when)


def _client_locale(name: str) -> tuple[str, str]:
    body = name.split("+")[0]
    match = _LOCALE.search(body)
    locale = match.group(1) if match else "?"
    if not match and "+" in name:
        sub = _LOCALE.search(name.split("+")[1])
        locale = sub.group(1) if sub else "?"
    client = re.split(r"_(?:pt_br|[a-z]{2})_body|_body", body)[0]
    return client, locale


def _table(title: str, passed: Counter[str], total: Counter[str]) -> None:
    cells = ", ".join(f"{key} {passed[key]}/{total[key]}" for key in sorted(total))
    print(f"{title}: {cells}")


def speed(loaded: list[tuple[str, dict[str, Any], str, str | None]], rounds: int = 20) -> None:
    bodies = [(body, subject) for _, _, body, subject in loaded]
    parse_inline(*bodies[0])  # warm the regex cache
    began = time.perf_counter()
    for _ in range(rounds):
        for body, subject in bodies:
            parse_inline(body, subject)
    elapsed = time.perf_counter() - began
    count = rounds * len(bodies)
    print(f"speed: {count} inline parses in {elapsed:.2f} s = {count / elapsed:,.0f} forwards/s (one core)")


def main(argv: list[str]) -> int:
    corpus = Path(argv[1]) if len(argv) > 1 else DEFAULT_CORPUS
    loaded = load(corpus)
    score(loaded)
    speed(loaded)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
