"""Reading EMAILLOG_* values: each problem is collected, so an admin sees them all at once."""

from __future__ import annotations

import ipaddress
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .addresses import domain_value, make_address

MAXIMUM = 2**31 - 1  # the largest whole number a setting takes (68 years of seconds)


class SettingsError(Exception):
    """Raised with every problem found in the settings; ``str()`` is the message for the admin."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("bad settings:\n" + "\n".join(f"  - {p}" for p in problems))


@dataclass(frozen=True)
class Reader:
    """Reads raw values and collects problems instead of stopping at the first one."""

    values: Mapping[str, str | None]
    problems: list[str]
    credential_prefix: str = ""  # per-mailbox secrets: $CREDENTIALS_DIRECTORY/<mailbox>-imap-password

    def text(self, name: str, default: str = "") -> str:
        value = self.values.get(name)
        return default if value is None or value.strip() == "" else value.strip()

    def secret(self, name: str) -> str:
        # Order documented in README: $CREDENTIALS_DIRECTORY (systemd LoadCredential), NAME_FILE, NAME.
        cred_dir = self.values.get("CREDENTIALS_DIRECTORY")
        cred_name = self.credential_prefix + name.removeprefix("EMAILLOG_").lower().replace("_", "-")
        credential = (Path(cred_dir) / cred_name) if cred_dir else None
        if credential is not None and credential.is_file():
            return self._read_secret(name, credential)
        named = self.existing_file(name + "_FILE")
        if named:
            return self._read_secret(name + "_FILE", Path(named)) if Path(named).is_file() else ""
        return self.text(name)

    def _read_secret(self, name: str, path: Path) -> str:
        try:
            return path.read_text().strip()
        except (OSError, UnicodeDecodeError) as exc:
            # Never the file's content: only why it could not be read.
            reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
            self.problems.append(f"{name}: cannot read {path}: {reason}")
            return ""

    def number(self, name: str, default: int, minimum: int = 1) -> int:
        raw = self.text(name, str(default))
        try:
            value = int(raw)
        except ValueError:
            self.problems.append(f"{name}: {raw!r} is not a whole number")
            return default
        if value < minimum:
            self.problems.append(f"{name}: {value} is below the minimum of {minimum}")
        elif value > MAXIMUM:
            # Past what a socket timeout, a sleep or an SQL integer takes: EMAILLOG_IMAP_TIMEOUT=1e23
            # written out failed the first connection on an OverflowError traceback.
            self.problems.append(f"{name}: {value} is above the maximum of {MAXIMUM}")
            return default
        return value

    def port(self, name: str, default: int, minimum: int = 1) -> int:
        value = self.number(name, default, minimum)
        if value > 65535:
            self.problems.append(f"{name}: {value} is not a TCP port (1-65535)")
        return value

    def host(self, name: str) -> str:
        """A server's name or address. "imaps://imap.acme.example" or "imap.acme.example:993" never
        resolves: it was "mailbox unavailable" (75), restarted for ever, instead of a setting to fix."""
        value = self.text(name)
        port_name = name.removesuffix("_HOST") + "_PORT"
        if "/" in value or any(c.isspace() for c in value):
            self.problems.append(
                f"{name}: {value!r} is not a host name (no scheme or path: imap.example.com)"
            )
        elif value.count(":") == 1 and value.rpartition(":")[2].isdigit():
            self.problems.append(f"{name}: {value!r} holds a port: put the port in {port_name}")
        return value

    def existing_file(self, name: str) -> str:
        """A path that must name a readable file when it is set (a CA bundle, a key file)."""
        value = self.text(name)
        if value and not Path(value).is_file():
            self.problems.append(f"{name}: {value} does not exist or is not a file")
        return value

    def ca_file(self, name: str) -> str:
        """A private CA's certificates (PEM): one that holds none failed every connection with 75
        ("mailbox unavailable: no certificate or crl found"), restarted for ever."""
        value = self.existing_file(name)
        if value and Path(value).is_file():
            try:
                ssl.create_default_context(cafile=value)
            except (ssl.SSLError, OSError, UnicodeDecodeError) as exc:
                reason = getattr(exc, "reason", None) or getattr(exc, "strerror", None) or type(exc).__name__
                self.problems.append(f"{name}: {value} holds no certificate that can be read (PEM): {reason}")
        return value

    def choice(self, name: str, default: str, allowed: tuple[str, ...]) -> str:
        value = self.text(name, default).lower()
        if value not in allowed:
            self.problems.append(f"{name}: {value!r} is not one of {', '.join(allowed)}")
        return value

    def flag(self, name: str, default: bool) -> bool:
        raw = self.text(name, "yes" if default else "no").lower()
        if raw in ("1", "yes", "true", "on"):
            return True
        if raw in ("0", "no", "false", "off"):
            return False
        self.problems.append(f"{name}: {raw!r} is not yes or no")
        return default

    def address(self, name: str, default: str) -> str:
        value = self.text(name, default)
        if make_address(None, value) is None:
            self.problems.append(f"{name}: {value!r} is not an email address")
        return value

    def domains(self, name: str) -> frozenset[str]:
        found = set()
        for item in self.text(name).split(","):
            if not item.strip():
                continue
            # Compared with the domains of address keys: in Unicode, as domain_value gives it.
            domain = domain_value(item)
            if domain is None:
                self.problems.append(f"{name}: {item.strip()!r} is not a domain")
            else:
                found.add(domain)
        return frozenset(found)

    def time_zones(self, name: str) -> tuple[ZoneInfo, ...]:
        found = []
        for item in self.text(name).split(","):
            item = item.strip()
            if not item:
                continue
            try:
                found.append(ZoneInfo(item))
            except (ZoneInfoNotFoundError, ValueError):
                self.problems.append(f"{name}: {item!r} is not a time zone name (such as Europe/Berlin)")
        return tuple(found)


def is_loopback(host: str) -> bool:
    """A host on this machine: the one place a login may travel without TLS."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
