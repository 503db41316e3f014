"""What one step of ``emaillog check`` (check.py) comes to: its result, a detail in the admin's terms,
and the exit code of a failure (SPEC §13: 75 temporary, 77 login refused, 78 bad configuration)."""

from __future__ import annotations

from dataclasses import dataclass

OK, WARN, FAIL, SKIP = "ok", "warn", "FAIL", "skip"
EXIT_OK, EXIT_TEMPFAIL, EXIT_LOGIN, EXIT_CONFIG = 0, 75, 77, 78


@dataclass(frozen=True)
class Step:
    step: str
    result: str
    detail: str
    exit_code: int = EXIT_OK


class StepFailed(Exception):
    def __init__(self, detail: str, exit_code: int) -> None:
        super().__init__(detail)
        self.exit_code = exit_code
