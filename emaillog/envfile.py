"""The env file (python-dotenv syntax) merged under the real environment, every line it cannot
read named as a settings problem (never the line itself: it may hold a password)."""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Mapping
from pathlib import Path

from dotenv import dotenv_values
from dotenv.parser import parse_stream

from .setting_names import unknown_names

# python-dotenv logs a line it cannot parse and goes on without it; here each such line is a
# settings problem naming the file and line (_unreadable_lines), so its warning would say it twice.
logging.getLogger("dotenv.main").setLevel(logging.ERROR)


def read_values(
    env_file: Path | None, environ: Mapping[str, str], problems: list[str]
) -> dict[str, str | None]:
    """Merge the env file under the real environment (the environment wins, as python-dotenv does)."""
    values: dict[str, str | None] = {}
    if env_file is not None:
        try:
            text = env_file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else f"not UTF-8 text ({exc.reason})"
            # Named as the file it is: ./.env is read without --env-file, when it is there.
            problems.append(f"env file {env_file.absolute()}: cannot read: {reason}")
        else:
            problems.extend(_unreadable_lines(env_file, text))
            values.update(dotenv_values(stream=io.StringIO(text)))
    # Every name in our own file must be a setting; the environment is shared with other programs,
    # so only a near miss there is taken for a misspelt setting.
    problems.extend(unknown_names(values))
    problems.extend(unknown_names((n for n in environ if n not in values), near_misses_only=True))
    values.update(environ)
    return values


_LEADING_NAME = re.compile(r"\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)")


def _unreadable_lines(env_file: Path, text: str) -> list[str]:
    """The lines python-dotenv skips: it only logged a warning and went on without the setting
    (EMAILLOG_POLL_SECONDS 30, a quote not closed), or took a bare name for no value at all.
    Never the line itself, which may hold a password: its number and the name it starts with."""
    found = []
    for binding in parse_stream(io.StringIO(text)):
        line = binding.original.line
        if binding.error:
            leading = _LEADING_NAME.match(binding.original.string)
            about = f" ({leading.group(1)})" if leading else ""
            found.append(
                f"{env_file}: line {line}{about}: not NAME=value (is the = missing, or a quote not closed?)"
            )
        elif binding.key and binding.key.startswith("EMAILLOG_") and binding.value is None:
            found.append(
                f"{env_file}: line {line}: {binding.key} has no = (for the default, leave the line out)"
            )
    return found
