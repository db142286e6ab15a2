"""The campaign editor's actions besides saving: the live preview, test sends, saved templates.

A test send is a transactional e-mail per address (tag ``test``, metadata ``campaign_id``):
it shows in the send log with its timeline, belongs to no campaign (so no campaign counts it),
and goes through the engine like any e-mail: suppression check, retries, attempts. It is
rendered for the list's subscriber with that address, else the list's first confirmed one,
else a made-up sample, with the subject prefixed "[Test] " and no tracking.

Saved templates are the transactional ``EmailTemplate``s (one library for both kinds of mail).
An HTML campaign saves its HTML and text parts; a Markdown campaign saves its Markdown source
as the template's text part and leaves the HTML empty (Markdown is readable as plain text).
Starting a campaign from a template reverses that: HTML when the template has some, else
Markdown from its text.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.delivery.personalise import TemplateProblem
from app.extensions import db
from app.models import BodyFormat, EmailTemplate, SentEmail, TransactionalEmail
from app.services import campaigns, lists, personalise, templates, transactional, validation
from app.services.errors import NotFound, ValidationFailed

MAX_TEST_ADDRESSES = 5
TEST_TAG = "test"
TEST_PREFIX = "[Test] "
PREVIEW_FROM = "preview@example.com"  # stands in while the from address is still being typed


@dataclass(frozen=True)
class Preview:
    """A live preview: what the shown subscriber would receive, or why the campaign does not render."""

    rendered: personalise.Rendered | None = None
    shown_for: str | None = None  # the subscriber's address; None for the made-up sample
    error: str | None = None
    field: str | None = None


def preview(account_id: int, data: dict) -> Preview:
    """The editor's fields rendered for the list's first confirmed subscriber; never raises for content."""
    body = data.get("body") or ""
    if not body.strip():
        return Preview(error="The preview appears here as you write the body.")
    try:
        mailing_list = lists.get(account_id, int(data.get("list_id") or 0))
    except (NotFound, TypeError, ValueError):
        return Preview(error="Choose one of your lists to preview the campaign for.", field="list_id")
    try:
        body_format = BodyFormat(data.get("body_format") or BodyFormat.MARKDOWN)
    except ValueError:
        return Preview(error="Choose Markdown or HTML.", field="body_format")
    try:
        subject = validation.header_text(data.get("subject"), "subject", required=False, max_length=998)
        from_name = validation.header_text(data.get("from_name"), "from_name", required=False, max_length=200)
        html, text = personalise.body_parts(body, body_format)
        draft = personalise.Draft(subject, PREVIEW_FROM, from_name, html, text, body)
        personalise.check(draft, mailing_list)
        recipient, address = personalise.sample(mailing_list.id)
        return Preview(personalise.render(draft, mailing_list.name, recipient), address)
    except ValidationFailed as exc:
        return Preview(error=exc.message, field=exc.field)


def saved_preview(account_id: int, campaign_id: int) -> Preview:
    """A saved campaign rendered for its list's first confirmed subscriber (the draft page's frame)."""
    campaign = campaigns.get(account_id, campaign_id)
    recipient, address = personalise.sample(campaign.list_id)
    try:
        rendered = personalise.render(personalise.draft_of(campaign), campaign.mailing_list.name, recipient)
    except (TemplateProblem, ValueError) as exc:
        return Preview(error=str(exc))
    return Preview(rendered, address)


def test_addresses(raw: str | None) -> list[str]:
    """Up to five comma-separated addresses, each valid; ValidationFailed (field ``addresses``) otherwise."""
    items = [item.strip() for item in (raw or "").replace(";", ",").split(",") if item.strip()]
    if not items:
        raise ValidationFailed("give at least one address to send the test to", "addresses")
    if len(items) > MAX_TEST_ADDRESSES:
        raise ValidationFailed(f"a test goes to at most {MAX_TEST_ADDRESSES} addresses", "addresses")
    found = []
    for item in items:
        try:
            found.append(validation.email_address(item, "addresses"))
        except ValidationFailed as exc:
            raise ValidationFailed(f"{item!r}: {exc.message}", "addresses") from None
    return list(dict.fromkeys(found))


def send_test(account_id: int, campaign_id: int, raw_addresses: str | None) -> list[SentEmail]:
    """Send the campaign as a test to the given addresses; everything is checked before any is written.

    Each test is its own transactional e-mail, committed and queued one after the other; an
    address on the suppression list gets a ``suppressed`` row saying so, as any e-mail would.
    """
    campaign = campaigns.get(account_id, campaign_id)
    addresses = test_addresses(raw_addresses)
    draft = personalise.draft_of(campaign)
    personalise.check(draft, campaign.mailing_list)
    requests = []
    for address in addresses:
        recipient, _ = personalise.sample(campaign.list_id, address)
        try:
            rendered = personalise.render(draft, campaign.mailing_list.name, recipient)
        except (TemplateProblem, ValueError) as exc:
            raise ValidationFailed(f"rendering the test for {address}: {exc}", "addresses") from None
        subject = (TEST_PREFIX + rendered.subject)[: validation.MAX_SUBJECT]
        requests.append(
            {
                "to": address,
                "from_email": campaign.from_email,
                "from_name": campaign.from_name,
                "subject": subject,
                "html": rendered.html,
                "text": rendered.text,
                "tags": [TEST_TAG],
                "metadata": {"campaign_id": str(campaign.id)},
            }
        )
    ids = [transactional.send(account_id, data, _email_id).body["id"] for data in requests]
    return [db.session.get(SentEmail, email_id) for email_id in ids]


def _email_id(email: SentEmail, content: TransactionalEmail) -> dict:
    return {"id": email.id}


def save_as_template(account_id: int, campaign_id: int, name: str | None) -> EmailTemplate:
    """A new saved template from the campaign's subject and body (see the module docstring)."""
    campaign = campaigns.get(account_id, campaign_id)
    if campaign.body_format == BodyFormat.MARKDOWN and campaign.body not in (campaign.html, campaign.text):
        html, text = "", campaign.body
    else:
        html, text = campaign.html, campaign.text
    return templates.create(account_id, {"name": name or "", "subject": campaign.subject, "html": html, "text": text})


def from_template(account_id: int, template_id: int) -> dict:
    """The editor's fields for a new campaign started from a saved template."""
    template = templates.get(account_id, template_id)
    if template.html.strip():
        return {"subject": template.subject, "body_format": BodyFormat.HTML.value, "body": template.html}
    return {"subject": template.subject, "body_format": BodyFormat.MARKDOWN.value, "body": template.text}
