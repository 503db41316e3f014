"""``emaillog check``: the set-up, step by step, each with its result and what to do about it.

Steps: settings → DNS → connect and TLS (certificate verified) → login → capabilities after login
(MOVE, UIDPLUS, IDLE) → intake folder writable → Processed/Error folders → database and schema →
SMTP relay → sender authentication. A failed step names the problem in the admin's terms; the steps
that depend on it are skipped, the independent ones still run. The exit code is the first failure's
(SPEC §13: 75 temporary, 77 login refused, 78 bad configuration), 0 when only warnings remain.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from . import terminal
from .checkimap import ImapSteps
from .checkservices import ServiceSteps
from .checkstep import EXIT_CONFIG, EXIT_LOGIN, EXIT_OK, EXIT_TEMPFAIL, FAIL, OK, SKIP, WARN, Step, StepFailed
from .imapmailbox import ImapMailbox
from .mailbox import LoginRefused, MailboxError
from .settings import Settings, SettingsError, load


@dataclass
class Checker(ImapSteps, ServiceSteps):
    """The steps in their order, each step's failure kept to itself (the steps: checkimap.py,
    checkservices.py)."""

    def run(self) -> list[Step]:
        steps = [Step("settings", OK, "read and valid")]
        if not self.settings.mailboxes:
            steps += self._imap_steps()
        for box in self.settings.mailboxes:
            # Each [mailbox.NAME] of EMAILLOG_MAILBOXES_FILE has its own server, login and folders.
            checker = Checker(box, self.create_folders)
            steps += [replace(s, step=f"{box.mailbox_name}: {s.step}") for s in checker._imap_steps()]
        steps.append(self._guard("database", self.database))
        steps.append(self._guard("SMTP relay", self.smtp))
        for box in self.settings.all_mailboxes():
            step = Checker(box).sender_auth()
            steps.append(
                replace(step, step=f"{box.mailbox_name}: {step.step}") if self.settings.mailboxes else step
            )
        return steps

    def _guard(self, name: str, action: Callable[[], tuple[str, str]]) -> Step:
        try:
            result, detail = action()
        except StepFailed as exc:
            return Step(name, FAIL, str(exc), exc.exit_code)
        return Step(name, result, detail)

    def _imap_steps(self) -> list[Step]:
        imap = self.settings.imap
        if imap is None:
            return [
                Step("IMAP", WARN, "EMAILLOG_IMAP_HOST is not set: `emaillog run` starts the demo mailbox")
            ]
        steps = [
            self._guard("DNS", lambda: self.dns(imap)),
        ]
        if steps[-1].result != FAIL:
            steps.append(self._guard("connect and TLS", lambda: self.connect(imap)))
        if steps[-1].result == FAIL:
            return [*steps, Step("login", SKIP, "the server cannot be reached")]
        try:
            mailbox = ImapMailbox(imap)
        except LoginRefused as exc:
            return [
                *steps,
                Step(
                    "login", FAIL, f"{exc} (check EMAILLOG_IMAP_USER and the password or token)", EXIT_LOGIN
                ),
            ]
        except (MailboxError, OSError) as exc:
            return [*steps, Step("login", FAIL, str(exc), EXIT_TEMPFAIL)]
        steps.append(Step("login", OK, f"logged in as {imap.user} ({imap.auth})"))
        try:
            # The intake folder last: after a [READ-ONLY] SELECT, imaplib refuses every further command.
            capabilities = self.capabilities(mailbox)
            folders = self._guard("Processed and Error folders", lambda: self.folders(mailbox))
            steps += [capabilities, self._guard("intake folder", lambda: self.intake(mailbox)), folders]
        finally:
            mailbox.close()
        return steps


def run_check(
    env_file: Path | None,
    *,
    create_folders: bool = False,
    as_json: bool = False,
    only: Callable[[Settings], Settings] | None = None,
) -> int:
    """``only``: the settings of the one mailbox to check (--mailbox); it may raise AdminError."""
    try:
        settings = load(env_file)
    except SettingsError as exc:
        steps = [Step("settings", FAIL, "; ".join(exc.problems), EXIT_CONFIG)]
    else:
        if only is not None:
            chosen = only(settings)
            # With a mailboxes file, that mailbox's steps, still named after it.
            settings = replace(settings, mailboxes=(chosen,)) if settings.mailboxes else chosen
        steps = Checker(settings, create_folders).run()
    _print(steps, as_json)
    failed = [s for s in steps if s.result == FAIL]
    return failed[0].exit_code if failed else EXIT_OK


def _print(steps: list[Step], as_json: bool) -> None:
    # A detail quotes the servers' words (a greeting, a refusal), which may hold ESC sequences, C1
    # controls or a bidi override: escaped, as every command's output of text from elsewhere.
    if as_json:
        sys.stdout.write(terminal.json_text([asdict(s) for s in steps]) + "\n")
        return
    for s in steps:
        print(f"{s.result:<5} {terminal.printable(s.step)}: {terminal.printable(s.detail)}")
