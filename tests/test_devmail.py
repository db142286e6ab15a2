"""The development catcher stores real SMTP deliveries where the Outbox page reads them."""

from __future__ import annotations

import os
import smtplib

from app import devmail
from tests.smtp_server import free_port


def test_catcher_keeps_messages_for_the_outbox(tmp_path):
    directory = str(tmp_path / "outbox")
    os.makedirs(directory)  # an existing, empty folder must work too
    port = free_port()
    controller = devmail.start(directory, f"127.0.0.1:{port}")
    try:
        with smtplib.SMTP("127.0.0.1", port) as smtp:
            smtp.sendmail("a@example.com", ["b@example.com"], b"Subject: Hi\r\nTo: b@example.com\r\n\r\nHello\r\n")
    finally:
        controller.stop()
    caught = devmail.messages(directory)
    assert len(caught) == 1
    assert caught[0].subject == "Hi" and caught[0].recipients == "b@example.com"
    assert devmail.message(directory, caught[0].key).part("plain").strip() == "Hello"
    assert devmail.message(directory, "../etc") is None
    devmail.clear(directory)
    assert devmail.messages(directory) == []
