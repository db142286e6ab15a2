"""The live preview: a sandboxed frame under a strict policy, rendered for a real or sample subscriber."""

from __future__ import annotations

import html
import re

from app.services import campaigns
from tests.conftest import PASSWORD, csrf_token
from tests.factories import make_list

BODY = '# Hi {{ subscriber.name }}\n\nYour plan: {{ subscriber.attributes.plan | default("free") }}.'


def _fields(audience, **overrides) -> dict:
    fields = {
        "list_id": str(audience["list"].id),
        "subject": "News for {{ subscriber.name }}",
        "from_name": "News",
        "from_email": "news@example.com",
        "body_format": "markdown",
        "body": BODY,
    }
    fields.update(overrides)
    return fields


def _preview(client, fields: dict, token: str | None):
    headers = {"HX-Request": "true"}
    if token:
        headers["X-CSRFToken"] = token  # as base.html's hx-headers sends it
    return client.post("/campaigns/preview", data=fields, headers=headers)


def _srcdoc(page: str) -> str:
    match = re.search(r'<iframe class="preview" sandbox="" title="HTML preview" srcdoc="([^"]*)"', page)
    assert match, "no sandboxed preview frame"
    return html.unescape(match.group(1))


def test_the_form_posts_its_fields_as_the_author_types(client, auth, audience):
    auth.login()
    page = client.get("/campaigns/new").text
    assert 'hx-post="/campaigns/preview"' in page
    assert 'hx-trigger="input changed delay:400ms"' in page and 'hx-target="#live-preview"' in page
    assert "X-CSRFToken" in page  # base.html's hx-headers carry the token on every HTMX request
    assert 'id="live-preview"' in page


def test_preview_renders_for_the_first_subscriber_in_a_sandboxed_frame(client, auth, audience):
    auth.login()
    token = csrf_token(client.get("/campaigns/new").text)
    response = _preview(client, _fields(audience), token)
    assert response.status_code == 200
    policy = response.headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "img-src * data:" in policy and "script-src" not in policy
    page = response.text
    frame = re.search(r"<iframe[^>]*>", page).group(0)
    assert 'sandbox=""' in frame and "allow-same-origin" not in frame and "allow-scripts" not in frame
    document = _srcdoc(page)
    # The frame's own document starts with the same policy, before any of the author's HTML.
    assert document.startswith('<meta http-equiv="Content-Security-Policy" content="default-src &#39;none&#39;')
    assert "<h1>Hi User 0</h1>" in document and "Your plan: gold." in document
    assert "News for User 0" in page and "user0@example.com" in page
    assert "Your plan: gold." in page  # the plain-text part, shown too
    assert "/u/preview" in document  # an unsubscribe link that unsubscribes nobody


def test_author_html_cannot_break_out_of_the_frame(client, auth, audience):
    auth.login()
    token = csrf_token(client.get("/campaigns/new").text)
    evil = '<script>alert(1)</script>"><img src=x onerror=alert(2)><p>ok</p>'
    page = _preview(client, _fields(audience, body_format="html", body=evil), token).text
    assert "<script>" not in page.replace(html.escape("<script>"), "")
    assert "<script>alert(1)</script>" in _srcdoc(page)  # only inside the sandboxed, script-less frame


def test_preview_of_a_list_without_subscribers_uses_a_sample(client, auth, audience):
    auth.login()
    empty = make_list(audience["user"].account_id, "Empty")
    token = csrf_token(client.get("/campaigns/new").text)
    page = _preview(client, _fields(audience, list_id=str(empty.id)), token).text
    assert "<h1>Hi Ada Lovelace</h1>" in _srcdoc(page) and "Your plan: free." in _srcdoc(page)
    assert "a sample subscriber" in page


def test_preview_shows_template_errors_with_their_line(client, auth, audience):
    auth.login()
    token = csrf_token(client.get("/campaigns/new").text)
    page = _preview(client, _fields(audience, body="Hello\n\n{{ subscribr.name }}"), token).text
    assert "on line 3" in page and "&#39;subscribr&#39; is not a variable" in page
    assert "<iframe" not in page


def test_preview_needs_the_csrf_token(client, auth, audience):
    auth.login()
    response = _preview(client, _fields(audience), None)
    assert response.status_code == 400
    assert "User 0" not in response.text


def test_preview_needs_a_login(client, audience):
    token = csrf_token(client.get("/login").text)
    response = _preview(client, _fields(audience), token)
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_the_edit_form_keeps_an_html_campaigns_format(client, auth, audience):
    auth.login()
    campaign = campaigns.create(audience["user"].account_id, _fields(audience, body_format="html", body="<p>x</p>"))
    page = client.get(f"/campaigns/{campaign.id}/edit").text
    assert '<option selected value="html">HTML</option>' in page


def test_preview_never_renders_another_accounts_list(client, auth, audience, make_user):
    stranger = make_user("stranger@example.com")
    own = make_list(stranger.account_id, "Mine")
    auth.login("stranger@example.com", PASSWORD)
    token = csrf_token(client.get("/campaigns/new").text)
    page = _preview(client, _fields(audience, body="{{ list.name }} {{ subscriber.email }}"), token).text
    assert "Friends" not in page and "user0@example.com" not in page
    assert "Choose one of your lists" in page
    page = _preview(client, _fields(audience, list_id=str(own.id), body="{{ list.name }}"), token).text
    assert "Mine" in _srcdoc(page)


def test_without_javascript_the_draft_page_shows_the_rendered_preview(client, auth, audience):
    auth.login()
    campaign = campaigns.create(audience["user"].account_id, _fields(audience))
    page = client.get(f"/campaigns/{campaign.id}").text
    assert f'sandbox="" title="HTML preview" src="/campaigns/{campaign.id}/preview"' in page
    assert "Subject “News for User 0”, shown for user0@example.com" in page
    frame = client.get(f"/campaigns/{campaign.id}/preview")
    assert frame.headers["Content-Security-Policy"].startswith("sandbox; default-src 'none'")
    assert "<h1>Hi User 0</h1>" in frame.text and "{{" not in frame.text
    # The edit page renders the preview on the server too.
    assert "<h1>Hi User 0</h1>" in _srcdoc(client.get(f"/campaigns/{campaign.id}/edit").text)
