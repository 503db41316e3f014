"""Entry point of the emaillog daemon: ``python daemon.py [--once] [--dry-run] [--env-file PATH]``.

It only parses the arguments and hands over to ``emaillog run``, so the daemon and the admin
command line read settings and start up in exactly one way.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from emaillog.cli import main


def parse(argv: list[str]) -> list[str]:
    parser = argparse.ArgumentParser(description="Poll the logging mailbox and log email into the CRM.")
    parser.add_argument("--once", action="store_true", help="one pass, then exit")
    parser.add_argument("--dry-run", action="store_true", help="report decisions; change nothing")
    parser.add_argument("--env-file", type=Path, metavar="PATH", help="settings file (default: ./.env)")
    args = parser.parse_args(argv)
    forwarded = ["--env-file", str(args.env_file)] if args.env_file else []
    return [*forwarded, "run", *(["--once"] if args.once else []), *(["--dry-run"] if args.dry_run else [])]


if __name__ == "__main__":
    sys.exit(main(parse(sys.argv[1:])))
