"""The shipped systemd unit: documented line by line, and sandboxed to an exposure score of 2.0 or less."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from sandbox import directives

ROOT = Path(__file__).resolve().parents[2]
UNIT = ROOT / "systemd" / "emaillog.service"
SCRIPT = ROOT / "scripts" / "check-systemd-score"
LIMIT = 2.0

# Outside CI a machine without systemd skips the score; in CI the script itself fails instead.
needs_analyze = pytest.mark.skipif(
    shutil.which("systemd-analyze") is None and os.environ.get("CI") != "true",
    reason="systemd-analyze not installed (Debian: apt-get install systemd)",
)


def run_script(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SCRIPT), *args], capture_output=True, text=True, env={**os.environ, **env}, check=False
    )


def test_every_directive_is_preceded_by_a_comment() -> None:
    lines = UNIT.read_text().splitlines()
    bare = [
        f"line {number}: {line}"
        for number, (before, line) in enumerate(zip(["", *lines], lines, strict=False), start=1)
        if line and not line.startswith(("#", "[")) and not before.startswith("#")
    ]
    assert bare == []


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("Type", "notify"),
        ("NotifyAccess", "main"),
        ("Restart", "on-failure"),
        ("RestartPreventExitStatus", "77 78"),
        ("DynamicUser", "yes"),
        ("StateDirectory", "emaillog"),
        ("ConfigurationDirectory", "emaillog"),
        ("Environment", "EMAILLOG_DATA_DIR=%S/emaillog"),
        ("EnvironmentFile", "/etc/emaillog/emaillog.env"),
        ("ExecStart", "/opt/emaillog/.venv/bin/emaillog run"),
        ("ExecReload", "/bin/kill -HUP $MAINPID"),
        ("CapabilityBoundingSet", ""),
        ("UMask", "0077"),
        ("RestrictAddressFamilies", "AF_UNIX AF_INET AF_INET6"),
        ("SystemCallFilter", "~@privileged @resources"),
        # The parser workers lower their own priority (parallel._start_worker).
        ("SystemCallFilter", "setpriority"),
    ],
)
def test_required_setting(key: str, value: str) -> None:
    assert value in directives(UNIT).get(key, [])


def test_secrets_come_as_credentials() -> None:
    credentials = {value.split(":")[0] for value in directives(UNIT)["LoadCredential"]}
    assert credentials == {"imap-password", "smtp-password", "pgpass"}


@needs_analyze
def test_exposure_score_is_at_most_two() -> None:
    result = run_script()
    assert result.returncode == 0, result.stdout + result.stderr
    match = re.search(r"exposure score for emaillog\.service: ([0-9.]+)", result.stdout)
    assert match, result.stdout
    assert float(match.group(1)) <= LIMIT


@needs_analyze
def test_script_fails_a_weak_unit(tmp_path: Path) -> None:
    weak = tmp_path / "weak.service"
    weak.write_text("[Service]\nExecStart=/bin/true\n")
    result = run_script(str(weak))
    assert result.returncode == 1
    assert "above 2.0" in result.stderr


@needs_analyze
def test_script_fails_an_unknown_directive(tmp_path: Path) -> None:
    typo = tmp_path / "typo.service"
    typo.write_text(UNIT.read_text().replace("ProtectHome=yes", "ProtectHomes=yes"))
    result = run_script(str(typo))
    assert result.returncode == 1
    assert "ProtectHomes" in result.stderr


def test_missing_analyze_skips_outside_ci() -> None:
    result = run_script(SYSTEMD_ANALYZE="/nonexistent/systemd-analyze", CI="")
    assert result.returncode == 0
    assert "skipped" in result.stdout


def test_missing_analyze_fails_in_ci() -> None:
    result = run_script(SYSTEMD_ANALYZE="/nonexistent/systemd-analyze", CI="true")
    assert result.returncode == 1
    assert "not found" in result.stderr
