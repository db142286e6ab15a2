"""Personalised campaigns sent for real: RQ jobs, SMTP to the loopback server, bytes as received."""

from __future__ import annotations

import math

import sqlalchemy as sa

from app.delivery import personalise
from app.delivery.render import CompiledMessage, Content
from app.extensions import db
from app.models import BodyFormat, EmailStatus, SentEmail
from app.services import campaigns
from app.services import personalise as checks
from tests.factories import add_subscribers

HTML = """<html><head><style>
  .plan { color: #c00; font-weight: bold; }
  @media (max-width: 600px) { .plan { font-size: 18px; } }
</style></head><body>
<h1>Hello {{ subscriber.name }}</h1>
<p class="plan">Plan: {{ subscriber.attributes.plan | default("free") }}</p>
<p><a href="https://example.com/offers">Offers</a> ·
<a href="https://example.com/account?email={{ subscriber.email }}">Your account</a></p>
</body></html>"""


def _send(audience, run_jobs, **overrides):
    data = {
        "list_id": audience["list"].id,
        "subject": "{{ subscriber.name }}, news from {{ list.name }}",
        "from_email": "news@example.com",
        "from_name": "News",
        "body_format": "html",
        "body": HTML,
    }
    data.update(overrides)
    campaign = campaigns.create(audience["user"].account_id, data)
    campaigns.send(audience["user"].account_id, campaign.id)
    run_jobs()
    return campaign


def _html(received) -> str:
    return received.message.get_body(("html",)).get_content()


def test_each_recipient_gets_their_own_message_with_css_inlined(audience, run_jobs, smtp_server):
    campaign = _send(audience, run_jobs)
    assert len(smtp_server.received) == 3
    by_recipient = {r.rcpt_tos[0]: r for r in smtp_server.received}
    gold, silver, bare = (by_recipient[f"user{i}@example.com"] for i in range(3))
    assert gold.message["Subject"] == "User 0, news from Friends"
    assert bare.message["Subject"] == "User 2, news from Friends"
    html = _html(gold)
    # Inlined for Gmail and Outlook; the media query stays in a style block for clients that read it.
    assert '<p class="plan" style="color: #c00;font-weight: bold;">Plan: gold</p>' in html
    assert ".plan { color: #c00" not in html and "@media (max-width: 600px)" in html
    assert "Plan: silver" in _html(silver) and "Plan: free" in _html(bare)
    assert "<h1>Hello User 0</h1>" in html and "{{" not in html
    # The fixed link is tracked; the one built from variables stays as rendered for this recipient.
    assert "https://example.com/offers" not in html and "http://localhost/t/c/" in html
    assert 'href="https://example.com/account?email=user0@example.com"' in html
    assert "http://localhost/u/" in html  # the unsubscribe footer, per recipient
    text = gold.message.get_body(("plain",)).get_content()
    assert "Hello User 0" in text and "Plan: gold" in text
    assert campaigns.stats(campaign.id)["delivered"] == 3


def test_a_non_ascii_personal_subject_is_encoded_per_recipient(audience, run_jobs, smtp_server):
    add_subscribers(audience["user"].account_id, audience["list"].id, 1, domain="zoe.example.com")
    from app.extensions import db
    from app.models import Subscriber

    zoe = db.session.query(Subscriber).filter_by(email="user0@zoe.example.com").one()
    zoe.name = "Zoë Ünal"
    db.session.commit()
    _send(audience, run_jobs, subject="Für {{ subscriber.name }}")
    received = smtp_server.to("user0@zoe.example.com")[0]
    assert received.message["Subject"] == "Für Zoë Ünal"
    assert b"Subject: =?utf-8?" in received.data


def test_a_personalised_body_that_places_its_unsubscribe_link_gets_no_footer(audience, run_jobs, smtp_server):
    body = "Hi {{ subscriber.name }}. [Leave {{ list.name }}]({{ unsubscribe_url }})"
    _send(audience, run_jobs, subject="News", body_format="markdown", body=body)
    received = smtp_server.to("user0@example.com")[0]
    html = _html(received)
    link = received.message["List-Unsubscribe"].strip("<>")
    assert f'<a href="{link}">Leave Friends</a>' in html
    assert html.count("/u/") == 1 and "from this list" not in html  # no second link in a footer


def test_a_campaign_without_template_tags_is_sent_as_written(audience, run_jobs, smtp_server):
    _send(audience, run_jobs, subject="Plain news", body_format="markdown", body="Hello {{ unsubscribe_url }}")
    assert {r.message["Subject"] for r in smtp_server.received} == {"Plain news"}
    assert "Hello http://localhost/u/" in _html(smtp_server.received[0])


def test_jinja_parses_each_part_once_per_batch_not_per_recipient(app, audience, run_jobs, monkeypatch):
    parses, renders = [], []
    real_parse, real_render = personalise._CampaignSandbox._parse, personalise.render
    monkeypatch.setattr(
        personalise._CampaignSandbox, "_parse", lambda env, *args: parses.append(1) or real_parse(env, *args)
    )
    monkeypatch.setattr(personalise, "render", lambda *args, **kw: renders.append(1) or real_render(*args, **kw))
    html, text = checks.body_parts(HTML, BodyFormat.HTML)
    CompiledMessage(Content("{{ subscriber.name }}", "news@example.com", "News", html, text), None, "Friends")
    per_compile = len(parses)
    assert 0 < per_compile <= 5

    add_subscribers(audience["user"].account_id, audience["list"].id, 4, domain="more.example.com")  # 7 in all
    monkeypatch.setitem(app.config, "DELIVERY_BATCH_SIZE", 2)
    campaign = campaigns.create(
        audience["user"].account_id,
        {
            "list_id": audience["list"].id,
            "subject": "{{ subscriber.name }}",
            "from_email": "news@example.com",
            "body_format": "html",
            "body": HTML,
        },
    )
    campaigns.send(audience["user"].account_id, campaign.id)
    parses.clear(), renders.clear()
    run_jobs()
    batches = math.ceil(7 / 2)
    assert campaigns.stats(campaign.id)["delivered"] == 7
    assert len(parses) == batches * per_compile  # a fixed number per batch, whatever its size
    assert len(renders) == 7 * 3  # subject, HTML and text: rendered per recipient


def test_a_recipient_whose_own_data_breaks_the_template_fails_alone(audience, run_jobs, smtp_server):
    """The checks on save and send render for a sample and the first subscriber; one whose
    attribute has the wrong type breaks only their own message, not the batch."""
    from tests.editor.conftest import set_attributes

    people = audience["subscribers"]
    set_attributes(people[0].id, {"plan": "gold", "seats": 2})
    set_attributes(people[1].id, {"plan": "silver", "seats": "many"})  # "many" + 1 cannot render
    set_attributes(people[2].id, {"seats": 5})
    campaign = _send(
        audience, run_jobs, body="<p>You have {{ (subscriber.attributes.seats | default(0)) + 1 }} seats.</p>"
    )
    stats = campaigns.stats(campaign.id)
    assert stats["delivered"] == 2 and stats["failed"] == 1
    assert sorted(r.rcpt_tos[0] for r in smtp_server.received) == ["user0@example.com", "user2@example.com"]
    failed = db.session.scalars(
        sa.select(SentEmail).where(SentEmail.campaign_id == campaign.id, SentEmail.status == EmailStatus.FAILED)
    ).one()
    assert failed.recipient == "user1@example.com" and "could not build the message" in failed.reason
    assert failed.attempt_count == 0  # nothing reached a server
