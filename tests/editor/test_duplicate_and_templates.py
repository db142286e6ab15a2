"""Duplicate a campaign; save it as a template and start a new one from it."""

from __future__ import annotations

import html

import sqlalchemy as sa

from app.extensions import db
from app.models import BodyFormat, Campaign, CampaignStatus, EmailTemplate, TrackedLink
from app.services import campaigns, editor, templates
from tests.conftest import csrf_token

MARKDOWN = "# Hi {{ subscriber.name }}\n\nSee [the offers](https://example.com/offers)."


def _campaign(audience, **overrides) -> Campaign:
    data = {
        "list_id": audience["list"].id,
        "name": "Spring",
        "subject": "Spring news for {{ subscriber.name }}",
        "from_email": "news@example.com",
        "from_name": "News",
        "body_format": "markdown",
        "body": MARKDOWN,
        "track_opens": False,
        "track_clicks": True,
    }
    data.update(overrides)
    return campaigns.create(audience["user"].account_id, data)


def _post(client, campaign_id: int, action: str, **data):
    token = csrf_token(client.get(f"/campaigns/{campaign_id}").text)
    return client.post(f"/campaigns/{campaign_id}/{action}", data={"csrf_token": token, **data})


def test_duplicate_a_finished_campaign_into_a_new_draft(client, auth, audience, run_jobs):
    auth.login()
    source = _campaign(audience)
    campaigns.send(audience["user"].account_id, source.id)
    run_jobs()
    assert campaigns.get(audience["user"].account_id, source.id).status == CampaignStatus.FINISHED

    response = _post(client, source.id, "duplicate")
    copy = db.session.scalars(sa.select(Campaign).order_by(Campaign.id.desc())).first()
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/campaigns/{copy.id}/edit")
    assert copy.id != source.id and copy.status == CampaignStatus.DRAFT
    assert copy.subject == "Spring news for {{ subscriber.name }} (copy)" and copy.name == "Spring (copy)"
    same = ("list_id", "from_email", "from_name", "body_format", "body", "html", "text", "track_opens", "track_clicks")
    assert {k: getattr(copy, k) for k in same} == {k: getattr(source, k) for k in same}
    assert copy.started_at is None and copy.finished_at is None and campaigns.stats(copy.id)["total"] == 0
    links = db.session.scalars(sa.select(TrackedLink.url).where(TrackedLink.campaign_id == copy.id)).all()
    assert links == ["https://example.com/offers"]  # its own tracked links
    assert "Edit campaign" in client.get(f"/campaigns/{copy.id}/edit").text


def test_a_copy_of_a_long_subject_still_fits(audience):
    source = _campaign(audience, subject="x" * 998)
    copy = campaigns.duplicate(audience["user"].account_id, source.id)
    assert len(copy.subject) == 998 and copy.subject.endswith(" (copy)")


def test_markdown_campaign_round_trips_through_a_template(client, auth, audience):
    auth.login()
    source = _campaign(audience)
    response = _post(client, source.id, "save-template", name="Spring template")
    assert response.status_code == 302
    template = db.session.scalar(sa.select(EmailTemplate).where(EmailTemplate.name == "Spring template"))
    # Markdown is kept as written, as the template's text; its HTML is left to the campaign.
    assert (template.subject, template.html, template.text) == (source.subject, "", MARKDOWN)

    page = client.get(f"/campaigns/new?template_id={template.id}").text
    assert "Start from a saved template" in page
    assert html.escape(MARKDOWN, quote=False) in page
    assert '<option selected value="markdown">Markdown</option>' in page
    assert 'value="Spring news for {{ subscriber.name }}"' in page
    assert "<h1>Hi User 0</h1>" in html.unescape(page)  # and its preview, rendered on the server

    fields = editor.from_template(audience["user"].account_id, template.id)
    again = campaigns.create(
        audience["user"].account_id, {"list_id": audience["list"].id, "from_email": "news@example.com", **fields}
    )
    assert (again.subject, again.body_format, again.body, again.html) == (
        source.subject,
        BodyFormat.MARKDOWN,
        source.body,
        source.html,
    )


def test_html_campaign_round_trips_through_a_template(audience):
    body = "<style>p { color: red }</style><p>Hi {{ subscriber.name }}</p>"
    source = _campaign(audience, body_format="html", body=body)
    template = editor.save_as_template(audience["user"].account_id, source.id, "Html one")
    assert (template.html, template.text) == (source.html, source.text)
    fields = editor.from_template(audience["user"].account_id, template.id)
    assert fields == {"subject": source.subject, "body_format": "html", "body": body}


def test_saving_a_template_under_a_taken_name_says_so(client, auth, audience):
    auth.login()
    templates.create(audience["user"].account_id, {"name": "Taken", "html": "<p>x</p>"})
    source = _campaign(audience)
    page = _post(client, source.id, "save-template", name="Taken")
    page = client.get(page.headers["Location"]).text
    assert "Not saved as a template" in page and "already exists" in page
    assert db.session.scalar(sa.select(sa.func.count(EmailTemplate.id))) == 1


def test_another_accounts_template_cannot_be_started_from(client, auth, audience, make_user):
    theirs = make_user("them@example.com")
    template = templates.create(theirs.account_id, {"name": "Secret", "html": "<p>their words</p>"})
    auth.login()
    response = client.get(f"/campaigns/new?template_id={template.id}")
    assert response.status_code == 404 and "their words" not in response.text
