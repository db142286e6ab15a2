"""The Content-Security-Policy in Chromium: every page works under it, and it stops what escaping missed.

A CSP violation does not raise a JavaScript error (the ``page`` fixture's check): Chromium reports
it on the console, so these tests fail on any console message that names the policy.
"""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect
from rq import Queue

from app.extensions import db
from app.models import SentEmail
from app.services import accounts, campaigns, suppressions, templates, webhooks
from tests.conftest import PASSWORD
from tests.factories import add_subscribers, make_campaign, make_list

pytestmark = pytest.mark.browser

XSS = '<img src=x onerror="window.__xss = 1">'
# Campaign HTML whose look depends on what the preview frame inherits from the page's policy: a
# style block (an @media rule stays one after inlining) and an image.
AUTHOR_HTML = (
    "<style>@media (min-width: 1px) { h1 { color: rgb(187, 0, 0); } }</style><h1>Spring</h1>"
    '<img alt="dot" src="data:image/gif;base64,R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7">'
)


def _violations(page) -> list[str]:
    found: list[str] = []
    page.on("console", lambda m: found.append(m.text) if "Content Security Policy" in m.text else None)
    return found


def _login(page, email="owner@example.com"):
    page.goto("/login")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name=re.compile("log in|sign in", re.I)).click()
    expect(page).not_to_have_url(re.compile(r"/login"))


@pytest.fixture
def account(app, make_user, run_jobs):
    """An admin's account with one of everything a page can show."""
    user = make_user()
    mailing_list = make_list(user.account_id, "Readers")
    [subscriber, _] = add_subscribers(user.account_id, mailing_list.id, 2)
    campaign = make_campaign(user.account_id, mailing_list.id, body_format="html", body=AUTHOR_HTML)
    sent = make_campaign(user.account_id, mailing_list.id, subject="Sent one")
    campaigns.send(user.account_id, sent.id)
    run_jobs()
    template = templates.create(user.account_id, {"name": "Receipt", "html": "<p>Hi {{ name }}</p>"})
    webhook = webhooks.create(user.account_id, "https://hooks.example.com/in", ["email.delivered"])
    suppressions.add(user.account_id, "blocked@example.com")
    accounts.issue_token(user, "CI")
    email = db.session.scalar(sa.select(SentEmail).where(SentEmail.campaign_id == sent.id).limit(1))
    return {
        "list": mailing_list,
        "subscriber": subscriber.id,
        "campaign": campaign.id,
        "sent": sent.id,
        "template": template.id,
        "webhook": webhook.id,
        "email": email.id,
    }


def test_every_page_works_under_the_policy(page, account):
    paths = [
        "/",
        "/lists",
        f"/lists/{account['list'].id}",
        "/subscribers",
        f"/subscribers/{account['subscriber']}",
        "/campaigns",
        "/campaigns/new",
        f"/campaigns/{account['campaign']}",
        f"/campaigns/{account['campaign']}/edit",
        f"/campaigns/{account['sent']}",
        "/emails",
        f"/emails/{account['email']}",
        "/templates",
        f"/templates/{account['template']}",
        "/webhooks",
        f"/webhooks/{account['webhook']}",
        "/tokens",
        "/status",
        "/suppressions",
        "/users",
        "/settings",
        "/admin/rq/",
        "/admin/rq/0/view/jobs",
        "/admin/rq/0/view/workers",
        f"/s/{account['list'].public_id}",
    ]
    problems = _violations(page)
    _login(page)
    seen = {}
    for path in paths:
        before = len(problems)
        response = page.goto(path)
        assert response.ok, path
        page.wait_for_load_state("networkidle")
        seen[path] = problems[before:]
    assert {path: found for path, found in seen.items() if found} == {}
    # The edit page's preview frame (srcdoc) shows the author's style block and image.
    page.goto(f"/campaigns/{account['campaign']}/edit")
    frame = page.frame_locator("#live-preview iframe")
    assert frame.get_by_role("heading", name="Spring").evaluate("h => getComputedStyle(h).color") == "rgb(187, 0, 0)"
    assert frame.get_by_role("img", name="dot").evaluate("i => i.complete && i.naturalWidth === 1")
    # rq-dashboard's own scripts ran: its queue table was built by JavaScript.
    page.goto("/admin/rq/0/view/queues")
    expect(page.locator("#queues tbody tr").first).to_be_visible()
    assert problems == []


def test_confirm_before_submit_and_copy_to_clipboard_work_without_inline_script(page, account):
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    problems = _violations(page)
    _login(page)
    page.goto("/webhooks")
    questions = []
    page.once("dialog", lambda d: (questions.append(d.message), d.dismiss()))
    page.get_by_role("button", name="Rotate secret").click()
    page.wait_for_timeout(300)
    assert page.url.endswith("/webhooks")  # "Cancel": the form was not sent
    page.once("dialog", lambda d: (questions.append(d.message), d.accept()))
    page.get_by_role("button", name="Rotate secret").click()
    expect(page.get_by_role("heading", name="New signing secret")).to_be_visible()
    assert questions == ["Create a new signing secret? The current one keeps signing for a day."] * 2
    field = page.get_by_label("Signing secret")
    page.wait_for_load_state("load")  # the page's scripts have run (a loaded machine can lag)
    field.focus()
    assert field.evaluate("f => f.selectionStart === 0 && f.selectionEnd === f.value.length")

    page.goto("/tokens")
    page.get_by_label("Name").fill("Shop")
    page.get_by_role("button", name="Create token").click()
    page.wait_for_load_state("load")
    page.get_by_role("button", name="Copy").click()
    expect(page.get_by_text("Copied to the clipboard.")).to_be_visible()
    shown = page.get_by_label("Your new API token").input_value()
    assert page.evaluate("navigator.clipboard.readText()") == shown and shown.startswith("pr_")
    assert problems == []


def test_a_payload_in_a_failed_jobs_text_does_not_run_in_rq_dashboard(page, account, app, redis_conn, run_jobs):
    """rq-dashboard puts a job's description and traceback into the page unescaped (its underscore
    templates use ``<%= %>``): text from outside (an SMTP reply, a CSV cell) in an exception
    message becomes markup there. The policy admits only the library's own inline scripts."""
    job = Queue(app.config["RQ_QUEUE"], connection=redis_conn).enqueue("builtins.int", XSS)
    run_jobs()
    assert XSS in job.latest_result().exc_string
    problems = _violations(page)
    _login(page)
    page.goto(f"/admin/rq/0/view/job/{job.id}")
    expect(page.locator("pre.exc_info")).to_contain_text("invalid literal for int()")
    page.wait_for_timeout(500)
    assert page.locator("pre.exc_info img").count() >= 1  # the library did turn the text into an element ...
    assert page.evaluate("window.__xss === undefined")  # ... whose handler never ran:
    assert problems and all("inline event handler" in p or "script-src" in p for p in problems), problems
