"""A user's own security, in the browser: turn on two-factor login, log in with a code, forget
the password, reset it from the e-mail, and still need the code; the admin reads it all in the
audit log."""

from __future__ import annotations

import re

import pyotp
import pytest
from playwright.sync_api import expect

from tests.browser.test_journeys import _login, _wait_for_mail
from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser
NEW_PASSWORD = "a brand new passphrase"


def _code_for(secret: str, used: set[str]) -> str:
    """A current code not used yet (a code is accepted once; wait for the next step if needed)."""
    totp = pyotp.TOTP(secret)
    code = totp.now()
    while code in used:
        import time

        time.sleep(1)
        code = totp.now()
    used.add(code)
    return code


def test_two_factor_and_password_reset(page, shot, make_user, smtp_server, background_worker):
    make_user()
    used: set[str] = set()
    _login(page)
    page.get_by_role("link", name="Account", exact=True).click()
    shot(page, "account")
    page.get_by_role("link", name="Turn two-factor login on").click()
    secret = page.locator("code.totp-secret").inner_text().strip()
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_label("Code from the app").fill(_code_for(secret, used))
    shot(page, "two-factor-setup")
    page.get_by_role("button", name="Turn on").click()
    expect(page.get_by_text(re.compile("two-factor login is on", re.I)).first).to_be_visible()

    # Logging in now takes the password, then a code; the password alone opens nothing.
    page.get_by_role("button", name="Log out", exact=True).click()
    page.goto("/login")
    page.get_by_label("E-mail").fill("owner@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name=re.compile("log in", re.I)).click()
    expect(page).to_have_url(re.compile(r"/login/code"))
    page.goto("/campaigns")
    expect(page).to_have_url(re.compile(r"/login"))
    page.goto("/login/code")
    page.get_by_label("Code").fill(_code_for(secret, used))
    shot(page, "two-factor-code")
    page.get_by_role("button", name="Log in").click()
    expect(page).not_to_have_url(re.compile(r"/login"))
    page.get_by_role("button", name="Log out", exact=True).click()

    # Forgotten password: the same page for any address; the e-mail's link sets a new one.
    page.get_by_role("link", name="Forgot your password?").click()
    page.get_by_label("E-mail").fill("owner@example.com")
    page.get_by_role("button", name="Send the link").click()
    shot(page, "forgot-sent")
    mail = _wait_for_mail(smtp_server, "owner@example.com")
    link = re.search(r"http://127\.0\.0\.1:\d+/password/reset/\S+", mail.message.get_body(("plain",)).get_content())
    page.goto(link.group(0))
    page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("New password again").fill(NEW_PASSWORD)
    shot(page, "reset")
    page.get_by_role("button", name="Set the password").click()

    # The reset logged nobody in, and it did not turn off two-factor login: the code is still asked.
    page.goto("/login")
    page.get_by_label("E-mail").fill("owner@example.com")
    page.get_by_label("Password").fill(NEW_PASSWORD)
    page.get_by_role("button", name=re.compile("log in", re.I)).click()
    expect(page).to_have_url(re.compile(r"/login/code"))
    page.get_by_label("Code").fill(_code_for(secret, used))
    page.get_by_role("button", name="Log in").click()
    expect(page).not_to_have_url(re.compile(r"/login"))

    # The same link works once only.
    page.goto(link.group(0))
    expect(page.get_by_text(re.compile("not valid", re.I)).first).to_be_visible()

    page.goto("/admin/audit")
    for words in ("turned on two-factor", "reset their password", "logged in"):
        expect(page.locator("table.audit").get_by_text(re.compile(words, re.I)).first).to_be_visible()
    shot(page, "audit-log")
