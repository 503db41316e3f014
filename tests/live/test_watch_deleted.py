"""The daemon's look for mail that arrived during a pass, with a \\Deleted message in the intake folder."""

from __future__ import annotations

from pathlib import Path

from support import make_world, message

from emaillog.devmail import ImapAccount
from emaillog.parallel import InlineParser
from emaillog.rules import DEFAULT_CHAIN
from emaillog.sdnotify import Notifier
from emaillog.watch import Daemon


def test_a_deleted_message_above_the_last_uid_is_not_new_mail(
    tmp_path: Path, imap_account: ImapAccount
) -> None:
    # A person's client in "mark as deleted" mode (Outlook, Thunderbird) leaves a \Deleted message
    # in the intake folder. The pass never lists it; the look for new mail must not count it either,
    # or the daemon runs passes back to back without end instead of waiting in IDLE.
    world = make_world(tmp_path, f"sqlite:///{tmp_path / 'db.sqlite3'}", imap_account)
    world.deliver(message(message_id="<a@acme.example>"), message(message_id="<b@acme.example>"))
    client = world.client()
    client.select_folder("INBOX")
    client.add_flags([max(client.search())], [b"\\Deleted"])
    client.logout()
    daemon = Daemon(world.settings, world.store, DEFAULT_CHAIN, Notifier(None), parser=InlineParser())
    daemon.start(install_signals=False)
    try:
        assert daemon.one_pass().outcomes == {"logged": 1}
        assert not daemon._mail_arrived_since_pass()
        world.deliver(message(message_id="<c@acme.example>"))
        assert daemon.mailbox is not None
        daemon.mailbox.client.noop()  # as the commands of a pass would: the session sees the new mail
        assert daemon._mail_arrived_since_pass()
    finally:
        daemon._drop_connection(logout=True)
