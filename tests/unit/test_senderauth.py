"""Sender authentication from Authentication-Results (SPEC §12), on header shapes seen in the wild."""

from __future__ import annotations

import pytest

from emaillog.senderauth import TRUST_TOPMOST, AuthVerdict, check_authentication, parse_header

# Microsoft 365 / Exchange Online (EOP): no authserv-id, trailing ";" and vendor results (compauth).
M365 = (
    "spf=pass (sender IP is 40.107.22.51) smtp.mailfrom=example.com; dkim=pass (signature was verified) "
    "header.d=example.com;dmarc=pass action=none header.from=example.com;compauth=pass reason=100"
)
# Exchange on-premises / EOP: no authserv-id, not signed, DMARC passed through SPF.
EXCHANGE = (
    "spf=pass (sender IP is 1.2.3.4) smtp.mailfrom=example.com; dkim=none (message not signed) "
    "header.d=none;dmarc=pass action=none header.from=example.com;"
)
GOOGLE = (
    "mx.google.com;\r\n       dkim=pass header.i=@example.com header.s=20230601 header.b=Xy7/abc+=;\r\n"
    "       spf=pass (google.com: domain of rep@example.com designates 209.85.220.41 as permitted "
    "sender) smtp.mailfrom=rep@example.com;\r\n       dmarc=pass (p=NONE sp=NONE dis=NONE) "
    "header.from=example.com"
)
OPENDKIM = (
    "mail.example.net; dkim=pass (2048-bit key; unprotected) header.d=example.com "
    "header.i=@example.com header.a=rsa-sha256 header.s=sel1 header.b=AbC+/1xY"
)
OPENDMARC = "mail.example.net; dmarc=pass (p=none dis=none) header.from=example.com"
FORGED_PASS = "mail.example.net; dmarc=pass header.from=example.com"
FAILING = (
    "mail.example.net; spf=fail smtp.mailfrom=example.com; dkim=none; dmarc=fail header.from=example.com"
)


def check(
    headers: list[str], trusted: tuple[str, ...] = ("mail.example.net",), domain: str = "example.com"
) -> AuthVerdict:
    return check_authentication(headers, domain, trusted)


# --- real-world shapes that pass -------------------------------------------------------------------


def test_microsoft_365_header_passes_when_trusted_by_position() -> None:
    verdict = check([M365], trusted=(TRUST_TOPMOST,))
    assert verdict.passed and verdict.reason == "dmarc-pass"
    assert verdict.evidence["trust"] == "position"


def test_exchange_position_only_header_passes_when_trusted_by_position() -> None:
    verdict = check([EXCHANGE, FAILING], trusted=(TRUST_TOPMOST,))
    assert verdict.passed and verdict.reason == "dmarc-pass"


def test_position_only_header_is_not_trusted_without_the_position_setting() -> None:
    verdict = check([EXCHANGE], trusted=("mail.example.net",))
    assert not verdict.passed and verdict.reason == "no-trusted-header"


def test_position_trust_covers_only_the_topmost_header() -> None:
    # A forged position-only header below a real one must never be read.
    verdict = check([FAILING, EXCHANGE], trusted=(TRUST_TOPMOST,))
    assert not verdict.passed and verdict.reason == "dmarc-fail"


def test_google_header_passes() -> None:
    verdict = check([GOOGLE], trusted=("mx.google.com",))
    assert verdict.passed and verdict.reason == "dmarc-pass"
    assert verdict.evidence["authserv_id"] == "mx.google.com"


def test_google_dkim_identity_without_header_d_aligns() -> None:
    header = "mx.google.com; dkim=pass header.i=@mail.example.com header.s=s header.b=x"
    verdict = check([header], trusted=("mx.google.com",))
    assert verdict.passed and verdict.reason == "dkim-aligned-pass"


def test_opendkim_header_passes_on_aligned_signature() -> None:
    verdict = check([OPENDKIM])
    assert verdict.passed and verdict.reason == "dkim-aligned-pass"
    assert verdict.evidence["domain"] == "example.com"


def test_opendmarc_header_passes() -> None:
    assert check([OPENDMARC]).passed


def test_subdomain_signature_aligns_relaxed() -> None:
    header = "mail.example.net; dkim=pass header.d=bounce.example.co.uk"
    assert check([header], domain="news.example.co.uk").passed


def test_spf_pass_for_aligned_envelope_domain_passes() -> None:
    header = "mail.example.net; spf=pass smtp.mailfrom=bounces@mta.example.com"
    verdict = check([header])
    assert verdict.passed and verdict.reason == "spf-aligned-pass"


def test_authserv_id_with_version_and_case_differences() -> None:
    header = "Mail.Example.NET 1; dmarc=pass header.from=EXAMPLE.com"
    assert check([header]).passed


def test_idn_from_domain_matches_a_label_in_header() -> None:
    header = "mail.example.net; dmarc=pass header.from=xn--bcher-kva.de"
    assert check([header], domain="bücher.de").passed


def test_topmost_trusted_header_is_found_below_untrusted_ones() -> None:
    # A relay after the receiving server (e.g. a mailing service) may stamp its own header on top.
    verdict = check(["relay.other.org; dmarc=fail header.from=example.com", OPENDMARC])
    assert verdict.passed and verdict.evidence["header_index"] == "1"


# --- failures ---------------------------------------------------------------------------------------


def test_no_header_at_all_fails() -> None:
    verdict = check([])
    assert not verdict.passed and verdict.reason == "no-authentication-results"


def test_untrusted_authserv_id_fails() -> None:
    verdict = check(["evil.example.org; dmarc=pass header.from=example.com"])
    assert not verdict.passed and verdict.reason == "no-trusted-header"


def test_forged_pass_below_the_trusted_header_is_ignored() -> None:
    verdict = check([FAILING, FORGED_PASS])
    assert not verdict.passed and verdict.reason == "dmarc-fail"


def test_forged_pass_below_a_neutral_trusted_header_is_ignored() -> None:
    verdict = check(["mail.example.net; spf=none smtp.mailfrom=example.com", FORGED_PASS])
    assert not verdict.passed and verdict.reason == "not-authenticated"


def test_a_dmarc_verdict_on_another_from_domain_fails_whatever_else_passed() -> None:
    # The receiving server read a different From (a second one hidden from our parser): its DMARC
    # result is about evil.example, so an aligned-looking DKIM or SPF pass proves nothing for ours.
    for aligned in ("dkim=pass header.d=mail.example.com", "spf=pass smtp.mailfrom=example.com"):
        header = f"mail.example.net; dmarc=pass header.from=evil.example; {aligned}"
        verdict = check([header])
        assert not verdict.passed and verdict.reason == "from-domain-mismatch"
        assert verdict.evidence["header_from"] == "evil.example"


def test_dkim_pass_for_an_unaligned_domain_fails() -> None:
    header = "mail.example.net; dkim=pass header.d=mailer.example.org header.i=@mailer.example.org"
    verdict = check([header])
    assert not verdict.passed and verdict.reason == "not-authenticated"


def test_spf_pass_for_an_unaligned_envelope_fails() -> None:
    header = "mail.example.net; spf=pass smtp.mailfrom=bounce@sendgrid.net"
    assert not check([header]).passed


def test_spf_pass_of_helo_alone_does_not_count() -> None:
    header = "mail.example.net; spf=pass smtp.helo=mail.example.com"
    assert not check([header]).passed


def test_dmarc_fail_is_decisive_even_with_relaxed_dkim_alignment() -> None:
    # adkim=s: the domain owner asked for strict alignment, and DMARC already said no.
    header = "mail.example.net; dkim=pass header.d=mail.example.com; dmarc=fail header.from=example.com"
    verdict = check([header])
    assert not verdict.passed and verdict.reason == "dmarc-fail"


def test_dmarc_pass_for_another_from_domain_does_not_count() -> None:
    header = "mail.example.net; dmarc=pass header.from=example.org"
    assert not check([header]).passed


def test_public_suffix_does_not_align_different_registrants() -> None:
    header = "mail.example.net; dkim=pass header.d=attacker.co.uk"
    assert not check([header], domain="victim.co.uk").passed


def test_none_result_fails() -> None:
    assert not check(["mail.example.net 1; none"]).passed


def test_unparseable_trusted_header_fails_without_reading_further() -> None:
    broken = "mail.example.net; dkim=pass header.d=exämple.com"
    verdict = check([broken, OPENDMARC])
    assert not verdict.passed and verdict.reason == "trusted-header-unparseable"


def test_nested_comments_are_rejected_not_recursed() -> None:
    hostile = "mail.example.net; dkim=pass " + "(" * 5000 + ")" * 5000
    verdict = check([hostile, OPENDMARC])
    assert not verdict.passed and verdict.reason == "trusted-header-unparseable"


def test_oversized_header_is_rejected() -> None:
    hostile = "mail.example.net; " + "dkim=pass header.d=example.com; " * 1000
    assert check([hostile]).reason == "trusted-header-unparseable"


def test_no_trusted_ids_fails_closed() -> None:
    assert check([OPENDMARC], trusted=()).reason == "not-configured"


def test_empty_from_domain_fails() -> None:
    assert check([OPENDMARC], domain="").reason == "no-from-domain"


@pytest.mark.parametrize(
    "value",
    ["", ";", "(comment only)", "=", "mail.example.net;;;", "\x00", "mail.example.net; dkim", "a" * 9000],
)
def test_garbage_never_raises(value: str) -> None:
    parse_header(value)
    assert not check([value]).passed


def test_position_only_header_has_no_authserv_id() -> None:
    header = parse_header(M365)
    assert header is not None and header.authserv_id is None
    assert [r.method for r in header.results] == ["spf", "dkim", "dmarc", "compauth"]
