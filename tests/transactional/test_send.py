"""POST /api/v1/emails sent for real: RQ jobs, SMTP to the loopback server, the ledger and its timeline."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from app.delivery.suppression import suppress
from app.extensions import db
from app.jobs import queue
from app.models import SentEmail, SuppressionReason, TransactionalEmail
from app.models.base import utcnow
from tests.transactional.conftest import NOTES, PDF, b64, payload


def _rows() -> int:
    return db.session.scalar(sa.select(sa.func.count(SentEmail.id)))


def _body(message, subtype: str) -> str:
    """A body part's text with the wire's CRLF line ends read back as LF."""
    return message.get_body((subtype,)).get_content().replace("\r\n", "\n")


def test_an_email_with_two_attachments_reaches_the_server(api, run_jobs, smtp_server):
    attachments = [
        {"filename": "receipt-1042.pdf", "content": b64(PDF)},
        {"filename": "Quittung für Ada.txt", "content": b64(NOTES), "content_type": "text/plain"},
    ]
    response = api.post(
        "/api/v1/emails",
        json=payload(
            subject="Your receipt №1042",
            attachments=attachments,
            tags=["receipt", "shop"],
            metadata={"order": "1042"},
        ),
    )

    assert response.status_code == 202, response.get_json()
    accepted = response.get_json()
    assert (accepted["kind"], accepted["status"], accepted["campaign_id"], accepted["subscriber_id"]) == (
        "transactional",
        "queued",
        None,
        None,
    )
    assert accepted["recipient"] == "ada@example.com"
    assert (accepted["tags"], accepted["metadata"]) == (["receipt", "shop"], {"order": "1042"})
    assert [e["type"] for e in accepted["events"]] == ["queued"]

    run_jobs()

    [received] = smtp_server.received
    assert (received.mail_from, received.rcpt_tos) == ("billing@shop.example", ["ada@example.com"])
    message = received.message
    assert list(message.keys()) == ["From", "To", "Subject", "Date", "Message-ID", "MIME-Version", "Content-Type"]
    assert message["From"] == "Shop Billing <billing@shop.example>"
    assert message["To"] == "Ada Lovelace <ada@example.com>"
    assert message["Subject"] == "Your receipt №1042"
    assert message["Message-ID"] == accepted["message_id"]
    assert message.get_content_type() == "multipart/mixed"
    assert _body(message, "plain") == "Thanks for your order.\n"
    assert _body(message, "html").strip() == "<p>Thanks for your order.</p>"
    assert message.get_body(("related", "html", "plain")).get_content_type() == "text/html"
    found = [(p.get_filename(), p.get_content_type(), p.get_payload(decode=True)) for p in message.iter_attachments()]
    assert found == [("receipt-1042.pdf", "application/pdf", PDF), ("Quittung für Ada.txt", "text/plain", NOTES)]

    shown = api.get(f"/api/v1/emails/{accepted['id']}").get_json()
    assert shown["status"] == "delivered" and shown["sent_at"] is not None
    assert [(a["number"], a["smtp_code"], a["outcome"]) for a in shown["attempts"]] == [(1, 250, "delivered")]
    assert [e["type"] for e in shown["events"]] == ["queued", "claimed", "delivered"]
    assert shown["events"][0]["detail"] == "transactional"


def test_html_alone_gets_a_generated_text_part(api, run_jobs, smtp_server):
    html = '<h1>Reset your password</h1><p>Open <a href="https://shop.example/r/abc">this link</a>.</p>'
    response = api.post("/api/v1/emails", json=payload(html=html, text=None))
    assert response.status_code == 202

    run_jobs()

    message = smtp_server.received[0].message
    assert message.get_content_type() == "multipart/alternative"
    text = _body(message, "plain")
    assert "# Reset your password" in text and "https://shop.example/r/abc" in text
    assert "List-Unsubscribe" not in message


def test_text_alone_is_a_single_plain_part(api, run_jobs, smtp_server):
    assert api.post("/api/v1/emails", json=payload(html=None, text="Just text.\n")).status_code == 202

    run_jobs()

    message = smtp_server.received[0].message
    assert message.get_content_type() == "text/plain"
    assert message.get_content().replace("\r\n", "\n") == "Just text.\n"


def test_a_template_is_rendered_with_the_variables(api, welcome, run_jobs, smtp_server):
    response = api.post(
        "/api/v1/emails",
        json=payload(
            subject=None, html=None, text=None, template_id=welcome.id, variables={"name": "<Ada>", "code": "X-42"}
        ),
    )

    assert response.status_code == 202, response.get_json()
    assert response.get_json()["subject"] == "Welcome, <Ada>"
    run_jobs()
    message = smtp_server.received[0].message
    assert message["Subject"] == "Welcome, <Ada>"
    html = _body(message, "html")
    assert "Hello &lt;Ada&gt;, your code is <b>X-42</b>." in html  # autoescaped in HTML only
    assert "Hello <Ada>, your code is **X-42**." in _body(message, "plain")
    content = db.session.get(TransactionalEmail, response.get_json()["id"])
    assert content.template_id == welcome.id


def test_a_subject_in_the_request_replaces_the_templates(api, welcome, run_jobs, smtp_server):
    body = payload(html=None, text=None, subject="Hi!", template_id=welcome.id, variables={"name": "A", "code": "1"})
    assert api.post("/api/v1/emails", json=body).status_code == 202

    run_jobs()

    assert smtp_server.received[0].message["Subject"] == "Hi!"


def test_a_missing_variable_is_422_naming_it_and_nothing_is_written(api, welcome, run_jobs, smtp_server):
    body = payload(subject=None, html=None, text=None, template_id=welcome.id, variables={"name": "Ada"})

    response = api.post("/api/v1/emails", json=body)

    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["field"] == "variables"
    assert "'code' is undefined" in error["message"]
    run_jobs()
    assert _rows() == 0 and smtp_server.received == []


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"subject": "Hello\r\nBcc: victim@example.org"}, "subject"),
        ({"subject": "=?utf-8?q?Hello=0D=0ABcc:_victim@example.org?="}, "subject"),
        ({"from_name": "Shop\nBcc: victim@example.org"}, "from_name"),
        ({"to_name": "=?utf-8?b?QWRhDQpCY2M6IHZpY3RpbUBleGFtcGxlLm9yZw==?="}, "to_name"),
        ({"to": "ada@example.com\r\nBcc: victim@example.org"}, "to"),
        ({"from_email": "billing@shop.example\nBcc: victim@example.org"}, "from_email"),
        ({"attachments": [{"filename": "a\r\nBcc: x.pdf", "content": "UERG"}]}, "attachments.0.filename"),
    ],
)
def test_header_injection_is_422_and_never_sent(api, run_jobs, smtp_server, override, field):
    response = api.post("/api/v1/emails", json=payload(**override))

    assert response.status_code == 422
    assert response.get_json()["error"]["field"] == field
    run_jobs()
    assert _rows() == 0 and smtp_server.received == []


def test_a_variable_cannot_break_the_templates_subject(api, welcome, run_jobs, smtp_server):
    variables = {"name": "Ada\r\nBcc: victim@example.org", "code": "1"}
    body = payload(subject=None, html=None, text=None, template_id=welcome.id, variables=variables)

    response = api.post("/api/v1/emails", json=body)

    assert response.status_code == 422
    assert response.get_json()["error"]["field"] == "subject"
    run_jobs()
    assert _rows() == 0 and smtp_server.received == []


def test_a_suppressed_recipient_gets_a_suppressed_row_and_nothing_is_sent(api, owner, run_jobs, smtp_server):
    suppress(db.session, owner.account_id, "ada@example.com", SuppressionReason.HARD_BOUNCE, "550 5.1.1")
    db.session.commit()

    response = api.post("/api/v1/emails", json=payload())

    assert response.status_code == 202
    accepted = response.get_json()
    assert accepted["status"] == "suppressed"
    assert accepted["reason"] == "address is on the suppression list (hard_bounce)"
    assert [e["type"] for e in accepted["events"]] == ["queued", "suppressed"]
    run_jobs()
    assert smtp_server.received == []
    listed = api.get("/api/v1/emails?status=suppressed").get_json()["data"]
    assert [e["id"] for e in listed] == [accepted["id"]]


def test_a_suppression_added_after_the_request_still_stops_the_send(api, owner, run_jobs, smtp_server):
    accepted = api.post("/api/v1/emails", json=payload()).get_json()
    suppress(db.session, owner.account_id, "ada@example.com", SuppressionReason.COMPLAINT)
    db.session.commit()

    run_jobs()

    assert smtp_server.received == []
    shown = api.get(f"/api/v1/emails/{accepted['id']}").get_json()
    assert shown["status"] == "suppressed" and shown["attempts"] == []


def test_a_deferral_is_retried_like_campaign_mail(app, api, run_jobs, smtp_server):
    smtp_server.handler.replies["ada@example.com"] = "451 4.7.1 greylisted, try again later"
    accepted = api.post("/api/v1/emails", json=payload()).get_json()
    run_jobs()

    row = db.session.get(SentEmail, accepted["id"])
    assert row.status.value == "deferred" and row.attempt_count == 1
    assert row.next_attempt_at - utcnow() >= timedelta(seconds=app.config["DELIVERY_RETRY_SCHEDULE"][0] - 5)
    assert smtp_server.received == []

    smtp_server.handler.replies.clear()
    db.session.execute(sa.update(SentEmail).values(next_attempt_at=utcnow() - timedelta(seconds=1)))
    db.session.commit()
    queue.maintenance()  # the periodic sweep finds the due retry and enqueues its delivery
    run_jobs()

    shown = api.get(f"/api/v1/emails/{accepted['id']}").get_json()
    assert shown["status"] == "delivered"
    assert [(a["number"], a["smtp_code"], a["outcome"]) for a in shown["attempts"]] == [
        (1, 451, "deferred"),
        (2, 250, "delivered"),
    ]
    assert [e["type"] for e in shown["events"]] == ["queued", "claimed", "deferred", "retry", "claimed", "delivered"]
    [received] = smtp_server.received
    assert received.message["Message-ID"] == accepted["message_id"]


def test_a_hard_bounce_fails_the_row_and_suppresses_the_address(api, owner, run_jobs, smtp_server):
    from app.delivery.suppression import is_suppressed

    smtp_server.handler.replies["ada@example.com"] = "550 5.1.1 <ada@example.com>: user unknown"
    accepted = api.post("/api/v1/emails", json=payload()).get_json()

    run_jobs()

    shown = api.get(f"/api/v1/emails/{accepted['id']}").get_json()
    assert shown["status"] == "bounced" and "user unknown" in shown["reason"]
    assert is_suppressed(db.session, owner.account_id, "ada@example.com")
