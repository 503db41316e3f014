"""Notice texts: ``string.Template`` files, the admin's copy first, then the packaged default.

The defaults ship as package data in ``emaillog/defaults/notices/`` so that an installed wheel works
with no ``config/`` directory at all; ``config/notices/`` in the repository holds the same files for
admins to copy and edit (a unit test keeps the two identical). A settings-provided directory overrides
file by file: a template missing there falls back to the default rather than failing a notice.
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from string import Template

_DEFAULTS = ("defaults", "notices")


def load_template(name: str, templates_dir: Path | None = None) -> Template:
    """Read template ``name`` (e.g. ``malformed.txt``) from ``templates_dir`` or the defaults."""
    if templates_dir is not None:
        candidate = templates_dir / name
        if candidate.is_file():
            return Template(candidate.read_text(encoding="utf-8"))
    default = resources.files("emaillog").joinpath(*_DEFAULTS, name)
    return Template(default.read_text(encoding="utf-8"))


def render(template: Template, values: Mapping[str, str]) -> str:
    # safe_substitute: an admin's typo ($subjet) shows up in the text instead of losing the notice.
    return template.safe_substitute(values)
