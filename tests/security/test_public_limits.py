"""Per-address limits on the public pages: counted in the real Redis, a friendly 429, failing open.

Each test gives its clients their own addresses (``REMOTE_ADDR``) and sets the limit it checks;
Redis is emptied after every test, so no count leaks from one test to the next.
"""

from __future__ import annotations

import logging
import socket

import pytest
import sqlalchemy as sa

from app import create_app, links
from app.extensions import db
from app.models import Subscriber
from app.services import subscribers
from tests.factories import make_list


@pytest.fixture
def limit(app, monkeypatch):
    """Set SUBSCRIBE_RATE_LIMIT and LINK_RATE_LIMIT for this test."""

    def set_limits(subscribe: str, link: str = "") -> None:
        monkeypatch.setitem(app.config, "SUBSCRIBE_RATE_LIMIT", subscribe)
        monkeypatch.setitem(app.config, "LINK_RATE_LIMIT", link)

    return set_limits


@pytest.fixture
def lists(app, make_user):
    user = make_user()
    return make_list(user.account_id, "Weekly"), make_list(user.account_id, "Daily", double_opt_in=False)


def _from(app, address: str):
    """A client whose requests come from ``address``."""
    visitor = app.test_client()
    visitor.environ_base["REMOTE_ADDR"] = address
    return visitor


def _subscribers() -> int:
    return db.session.scalar(sa.select(sa.func.count(Subscriber.id)))


def _assert_friendly_429(response, window: int = 60) -> None:
    """A public HTML page, not JSON, saying when to come back (within the broken limit's window)."""
    assert response.status_code == 429
    assert response.mimetype == "text/html"
    assert "Please wait" in response.text and "<html" in response.text
    assert 1 <= int(response.headers["Retry-After"]) <= window
    assert response.headers["Cache-Control"] == "no-store"


def test_subscribe_posts_over_the_limit_get_a_friendly_429(app, lists, limit):
    limit("3 per minute")
    weekly, daily = lists
    visitor = _from(app, "203.0.113.7")

    # Every post counts, whatever the answer, on every list together.
    answers = [
        visitor.post(f"/s/{weekly.public_id}", data={"email": "a@example.com"}),
        visitor.post(f"/s/{daily.public_id}", data={"email": "b@example.com"}),
        visitor.post(f"/s/{weekly.public_id}", data={"email": "not an address"}),
    ]
    refused = visitor.post(f"/s/{daily.public_id}", data={"email": "c@example.com"})

    assert [a.status_code for a in answers] == [200, 200, 422]
    _assert_friendly_429(refused)
    assert "c@example.com" not in refused.text
    assert _subscribers() == 2  # the refused post stored nothing
    # Reading the form is free, and another address has a budget of its own.
    assert visitor.get(f"/s/{weekly.public_id}").status_code == 200
    assert _from(app, "203.0.113.8").post(f"/s/{daily.public_id}", data={"email": "c@example.com"}).status_code == 200


def test_the_hourly_limit_counts_too(app, lists, limit):
    limit("100 per minute; 2 per hour")
    visitor = _from(app, "203.0.113.9")
    url = f"/s/{lists[1].public_id}"
    assert [visitor.post(url, data={"email": f"{i}@example.com"}).status_code for i in range(3)] == [200, 200, 429]
    refused = visitor.post(url, data={"email": "x@example.com"})
    _assert_friendly_429(refused, window=3600)
    assert int(refused.headers["Retry-After"]) > 60  # the hour's window, not the minute's


def test_an_ipv6_client_counts_by_its_64(app, lists, limit):
    limit("2 per minute")
    url = f"/s/{lists[1].public_id}"
    one = _from(app, "2001:db8:1:2::1").post(url, data={"email": "a@example.com"})
    two = _from(app, "2001:db8:1:2:ffff::9").post(url, data={"email": "b@example.com"})
    three = _from(app, "2001:db8:1:2::abcd").post(url, data={"email": "c@example.com"})
    neighbour = _from(app, "2001:db8:1:3::1").post(url, data={"email": "d@example.com"})
    assert [one.status_code, two.status_code, three.status_code, neighbour.status_code] == [200, 200, 429, 200]


def test_an_empty_setting_turns_the_subscribe_limit_off(app, lists, limit):
    limit("")
    visitor = _from(app, "203.0.113.10")
    url = f"/s/{lists[1].public_id}"
    assert {visitor.post(url, data={"email": f"{i}@example.com"}).status_code for i in range(15)} == {200}


def test_the_default_limit_holds_ten_posts_a_minute(app, lists):
    assert app.config["SUBSCRIBE_RATE_LIMIT"] == "10 per minute; 100 per hour"
    visitor = _from(app, "203.0.113.11")
    url = f"/s/{lists[1].public_id}"
    codes = [visitor.post(url, data={"email": f"{i}@example.com"}).status_code for i in range(11)]
    assert codes == [200] * 10 + [429]


@pytest.fixture
def tokens(app, lists):
    weekly = lists[0]
    reader = subscribers.add(weekly.account_id, weekly.id, "reader@example.com")
    other = subscribers.add(weekly.account_id, weekly.id, "other@example.com")
    secret = app.config["SECRET_KEY"]
    return {
        "reader": reader,
        "unsubscribe": links.unsubscribe_token(secret, reader.id, weekly.id),
        "other": links.unsubscribe_token(secret, other.id, weekly.id),
    }


def test_links_that_are_not_valid_count_and_valid_ones_do_not(app, tokens, limit):
    limit("", link="3 per minute")
    visitor = _from(app, "198.51.100.1")

    # Valid links cost nothing, however many.
    assert {visitor.get(f"/u/{tokens['unsubscribe']}").status_code for _ in range(6)} == {200}
    # Three that are not valid (any page, any method) use the budget up...
    assert visitor.get("/c/1.AAAAAAAAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAA").status_code == 404
    assert visitor.post("/u/1.AAAAAAAAAAAAAAAAAAAAAA").status_code == 404
    assert visitor.get("/u/guess").status_code == 404
    # ...then every link from that address waits, the valid ones too.
    _assert_friendly_429(visitor.get("/c/another-guess"))
    _assert_friendly_429(visitor.get(f"/u/{tokens['unsubscribe']}"))
    _assert_friendly_429(visitor.post(f"/u/{tokens['unsubscribe']}"))
    db.session.expire_all()
    assert db.session.get(Subscriber, tokens["reader"].id).status.value == "confirmed"
    # Another address is not held up.
    assert _from(app, "198.51.100.2").get(f"/u/{tokens['unsubscribe']}").status_code == 200


def test_one_click_unsubscribe_is_never_refused_nor_counted(app, tokens, limit):
    """Mailbox providers post RFC 8058 one-clicks from shared servers: they must always go through."""
    limit("", link="2 per minute")
    provider = _from(app, "198.51.100.3")
    one_click = {"List-Unsubscribe": "One-Click"}
    # Bad one-clicks do not use the budget...
    assert [provider.post("/u/1.AAAAAAAAAAAAAAAAAAAAAA", data=one_click).status_code for _ in range(5)] == [404] * 5
    assert provider.get("/u/guess").status_code == 404
    assert provider.get("/u/guess").status_code == 404
    _assert_friendly_429(provider.get("/u/guess"))
    # ...and with the budget spent, a genuine one-click still unsubscribes.
    answer = provider.post(f"/u/{tokens['unsubscribe']}", data=one_click)
    assert answer.status_code == 200 and answer.text == ""
    db.session.expire_all()
    assert db.session.get(Subscriber, tokens["reader"].id).status.value == "unsubscribed"


def test_the_limits_do_not_touch_the_dashboard_or_the_form_page(app, client, lists, limit, auth):
    limit("1 per minute", link="1 per minute")
    visitor = _from(app, "127.0.0.1")
    url = f"/s/{lists[1].public_id}"
    assert visitor.post(url, data={"email": "a@example.com"}).status_code == 200
    assert visitor.post(url, data={"email": "b@example.com"}).status_code == 429
    assert visitor.get(url).status_code == 200
    assert auth.login().status_code == 302  # the same address signs in and uses the dashboard
    assert client.get("/lists").status_code == 200


@pytest.mark.parametrize("name", ["SUBSCRIBE_RATE_LIMIT", "LINK_RATE_LIMIT"])
@pytest.mark.parametrize("value", ["lots", "10 per fortnight"])
def test_an_unreadable_limit_is_refused_at_start(app, name, value):
    with pytest.raises(ValueError, match=name):
        create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"], name: value})


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_the_public_pages_keep_answering_when_redis_is_down(app, lists, tokens, caplog, monkeypatch):
    """Fail open: with Redis unreachable the limiter logs and the request goes through."""
    # Alembic's logging set-up (the session's migrations) disables loggers that existed before it.
    monkeypatch.setattr(logging.getLogger("flask-limiter"), "disabled", False)
    down = create_app(
        {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
            "REDIS_URL": f"redis://127.0.0.1:{_closed_port()}/0",
            "DEV_CATCHER": False,
            "SUBSCRIBE_RATE_LIMIT": "1 per minute",
            "LINK_RATE_LIMIT": "1 per minute",
        }
    )
    visitor = down.test_client()
    url = f"/s/{lists[1].public_id}"  # single opt-in: no e-mail to queue in the missing Redis
    try:
        with caplog.at_level(logging.WARNING):
            posts = [visitor.post(url, data={"email": f"{i}@example.com"}) for i in range(3)]
            guesses = [visitor.get("/u/guess") for _ in range(3)]
            page = visitor.get(f"/u/{tokens['unsubscribe']}")
    finally:
        with down.app_context():
            db.engine.dispose()

    assert [p.status_code for p in posts] == [200] * 3
    assert [g.status_code for g in guesses] == [404] * 3
    assert page.status_code == 200
    assert any(r.name == "flask-limiter" and r.levelno == logging.ERROR for r in caplog.records)
