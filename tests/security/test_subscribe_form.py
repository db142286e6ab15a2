"""The public subscribe form against enumeration, mail-bombing and bots (research B9, A9).

- One answer whatever the address's state: new, pending, confirmed, unsubscribed, suppressed,
  erased, or past its confirmation e-mails for the day.
- At most three confirmation e-mails per address per account in any 24 hours, whichever of the
  account's lists the form was for; a marketer's own "pending" (API, dashboard) is not refused.
- A trap field people never see: a post that fills it gets the usual answer and changes nothing.
- An address pasted with spaces or a line break around it is trimmed, at every entry point;
  one with a line break inside stays refused (tests/security/test_address_entry_points.py).
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from app.delivery.suppression import suppress
from app.extensions import db
from app.models import EmailKind, SentEmail, Subscriber, SuppressionReason
from app.services import accounts, audience, subscribers
from app.web.public.routes import HONEYPOT
from tests.factories import make_list
from tests.security import test_address_entry_points as entry_points

VICTIM = "victim@example.com"
ENTRY_POINTS = entry_points.ENTRY_POINTS
world = entry_points.world  # the fixture: a signed-in owner, a list and a draft campaign


@pytest.fixture
def account(app, make_user):
    user = make_user("form.owner@example.com")
    return {
        "owner": user.email,
        "id": user.account_id,
        "weekly": make_list(user.account_id, "Weekly"),
        "daily": make_list(user.account_id, "Daily"),
        "monthly": make_list(user.account_id, "Monthly"),
        "single": make_list(user.account_id, "Instant", double_opt_in=False),
    }


def _post(client, mailing_list, email: str, **fields):
    response = client.post(f"/s/{mailing_list.public_id}", data={"email": email, **fields})
    return response.status_code, response.get_data(as_text=True)


def _confirmations(address: str) -> list[SentEmail]:
    db.session.expire_all()
    return list(
        db.session.scalars(
            sa.select(SentEmail)
            .where(SentEmail.recipient == address, SentEmail.kind == EmailKind.CONFIRMATION)
            .order_by(SentEmail.id)
        )
    )


def _subscriber(mailing_list, address: str) -> Subscriber | None:
    db.session.expire_all()
    return db.session.scalar(
        sa.select(Subscriber).where(Subscriber.list_id == mailing_list.id, Subscriber.email == address)
    )


def _states(account) -> dict[str, str]:
    """One address in each state on the weekly list (and the single opt-in list)."""
    account_id = account["id"]
    for mailing_list in (account["weekly"], account["single"]):
        subscribers.add(account_id, mailing_list.id, "confirmed@example.com")
        gone = subscribers.add(account_id, mailing_list.id, "gone@example.com")
        subscribers.update(account_id, gone.id, status="unsubscribed")
        subscribers.add(account_id, mailing_list.id, "pending@example.com", status="pending")
    suppress(db.session, account_id, "blocked@example.com", SuppressionReason.HARD_BOUNCE)
    db.session.commit()
    subscribers.add(account_id, account["daily"].id, "erased@example.com")
    audience.erase(account_id, "erased@example.com")
    assert audience.is_erased(account_id, "erased@example.com")
    for mailing_list in (account["weekly"], account["daily"], account["monthly"]):
        subscribers.subscribe(mailing_list.public_id, "busy@example.com")
    assert len(_confirmations("busy@example.com")) == subscribers.CONFIRMATIONS_PER_DAY
    return {
        "new": "new@example.com",
        "pending": "pending@example.com",
        "confirmed": "confirmed@example.com",
        "unsubscribed": "gone@example.com",
        "suppressed": "blocked@example.com",
        "erased": "erased@example.com",
        "out of confirmation e-mails today": "busy@example.com",
    }


@pytest.mark.parametrize("list_name", ["weekly", "single"])
def test_every_state_gets_the_same_answer(client, account, list_name):
    states = _states(account)
    mailing_list = account[list_name]
    answers = {state: _post(client, mailing_list, address, name="Sam") for state, address in states.items()}
    assert len(set(answers.values())) == 1, {state: answer[0] for state, answer in answers.items()}
    status, body = answers["new"]
    assert status == 200 and mailing_list.name in body
    for address in states.values():
        assert address not in body
    # The suppressed address got no row (and so no e-mail).
    assert _subscriber(mailing_list, "blocked@example.com") is None


def test_at_most_three_confirmation_mails_per_address_per_day_across_the_accounts_lists(
    client, account, run_jobs, smtp_server
):
    weekly, daily, monthly = account["weekly"], account["daily"], account["monthly"]
    answers = [_post(client, ml, VICTIM) for ml in (weekly, weekly, daily, monthly, daily, weekly)]
    run_jobs()

    # Three e-mails reached the victim, then nothing: the 4th to 6th posts changed nothing...
    assert [m.rcpt_tos for m in smtp_server.received] == [[VICTIM]] * 3
    assert len(_confirmations(VICTIM)) == 3
    assert _subscriber(monthly, VICTIM) is None
    # ...and were answered exactly like the first ones on the same list.
    assert answers[0] == answers[1] == answers[5]
    assert answers[2] == answers[4]
    assert answers[3] == _post(client, monthly, "someone.else@example.com")
    # The last e-mail's link still confirms: a refused post did not change the nonce.
    text = smtp_server.received[2].message.get_body(preferencelist=("plain",)).get_content()
    link = re.search(r"http://localhost(/c/\S+)", text).group(1)
    assert client.post(link).status_code == 200
    assert _subscriber(daily, VICTIM).status.value == "confirmed"


def test_an_unsubscribed_address_coming_back_counts_the_same(client, account, run_jobs, smtp_server):
    weekly = account["weekly"]
    gone = subscribers.add(account["id"], weekly.id, VICTIM)
    subscribers.update(account["id"], gone.id, status="unsubscribed")
    for _ in range(5):
        _post(client, weekly, VICTIM)
    run_jobs()
    assert len(smtp_server.received) == 3
    assert _subscriber(weekly, VICTIM).status.value == "pending"


def test_the_count_is_per_account_and_per_address(client, account, make_user, run_jobs, smtp_server):
    for _ in range(4):
        _post(client, account["weekly"], VICTIM)
    other_owner = make_user("other.owner@example.com")
    elsewhere = make_list(other_owner.account_id, "Elsewhere")
    assert _post(client, elsewhere, VICTIM)[0] == 200
    assert _post(client, account["weekly"], "bystander@example.com")[0] == 200
    run_jobs()
    recipients = sorted(m.rcpt_tos[0] for m in smtp_server.received)
    assert recipients == ["bystander@example.com"] + [VICTIM] * 4  # 3 from one account, 1 from the other


def test_the_window_is_24_hours(client, account):
    for mailing_list in (account["weekly"], account["daily"], account["monthly"]):
        _post(client, mailing_list, VICTIM)
    _post(client, account["weekly"], VICTIM)
    assert len(_confirmations(VICTIM)) == 3
    for row in _confirmations(VICTIM)[:1]:
        row.created_at = row.created_at - timedelta(hours=24, minutes=1)
    db.session.commit()
    _post(client, account["weekly"], VICTIM)
    assert len(_confirmations(VICTIM)) == 4


def test_a_marketer_setting_pending_is_not_refused(app, client, account, run_jobs, smtp_server):
    """Decided: a signed-in marketer is accountable (audit log), and silently sending nothing
    after a 201 would mislead them. Their e-mails still count against the public form."""
    for mailing_list in (account["weekly"], account["daily"], account["monthly"]):
        _post(client, mailing_list, VICTIM)
    single = account["single"]
    token = accounts.create_token(account["owner"])
    answer = app.test_client().post(
        f"/api/v1/lists/{single.id}/subscribers",
        json={"email": VICTIM, "status": "pending"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert answer.status_code == 201
    run_jobs()
    assert len(smtp_server.received) == 4
    # Its e-mail counts: the public form stays closed to the address.
    _post(client, account["weekly"], VICTIM)
    assert len(_confirmations(VICTIM)) == 4


def test_the_form_holds_a_trap_people_never_see(client, account):
    page = client.get(f"/s/{account['weekly'].public_id}").text
    field = re.search(rf'<div class="trap" aria-hidden="true">.*?<input ([^>]*name="{HONEYPOT}"[^>]*)>', page)
    assert field, page
    attributes = field.group(1)
    assert 'tabindex="-1"' in attributes and 'autocomplete="off"' in attributes and 'value=""' in attributes
    css = client.get("/static/css/postroom.css").get_data(as_text=True)
    rule = re.search(r"\.trap \{([^}]*)\}", css)
    assert rule and "position: absolute" in rule.group(1) and "left: -10000px" in rule.group(1)
    assert "display: none" not in rule.group(1)


@pytest.mark.parametrize("list_name", ["weekly", "single"])
def test_a_filled_trap_gets_the_usual_answer_and_changes_nothing(client, account, run_jobs, smtp_server, list_name):
    mailing_list = account[list_name]
    human = _post(client, mailing_list, "person@example.com", **{HONEYPOT: ""})
    bot = _post(client, mailing_list, "bot@example.com", name="Bot", **{HONEYPOT: "https://spam.example"})
    bot_bad_address = _post(client, mailing_list, "not an address", **{HONEYPOT: "x"})
    run_jobs()
    assert human == bot == bot_bad_address
    assert human[0] == 200
    assert _subscriber(mailing_list, "person@example.com") is not None
    assert _subscriber(mailing_list, "bot@example.com") is None
    assert [m.rcpt_tos for m in smtp_server.received] == ([["person@example.com"]] if list_name == "weekly" else [])


def test_a_form_without_the_trap_field_still_subscribes(app, account):
    """Forms copied onto other sites before the field existed post only email and name."""
    visitor = app.test_client()
    assert visitor.post(f"/s/{account['weekly'].public_id}", data={"email": "old.form@example.com"}).status_code == 200
    assert _subscriber(account["weekly"], "old.form@example.com").status.value == "pending"


PASTED = ["  {}\r\n", "{}\n", "\t{} \r", " {} "]


@pytest.mark.parametrize("entry", sorted(ENTRY_POINTS))
def test_an_address_pasted_with_spaces_or_a_line_break_around_it_is_trimmed(
    app, client, world, run_jobs, smtp_server, entry
):
    for number, shape in enumerate(PASTED):
        if entry == "dashboard: suppression CSV import" and shape.endswith("\r"):
            continue  # a CR inside a quoted CSV cell: that importer refuses the whole line (see the report)
        address = f"pasted{number}@example.com"
        before, sent = entry_points._snapshot(), len(smtp_server.received)
        response = ENTRY_POINTS[entry](app, client, world, shape.format(address))
        run_jobs()
        assert entry_points._status(response) < 400, (entry, repr(shape), entry_points._status(response))
        after = entry_points._snapshot()
        assert after != before or len(smtp_server.received) > sent, (entry, repr(shape))
        stored = [v for rows in after for row in rows for v in row if isinstance(v, str) and "pasted" in v]
        assert address in stored or len(smtp_server.received) > sent, (entry, repr(shape))
        assert not [v for v in stored if v != v.strip() or any(ch in v for ch in "\r\n\x00")], (entry, stored)
