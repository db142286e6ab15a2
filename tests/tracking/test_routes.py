"""The public pixel and click routes: what they answer, and that hits reach the database."""

from __future__ import annotations

import pytest
import redis
import sqlalchemy as sa

from app.extensions import db
from app.models import EmailClick, EmailEvent, EmailOpen
from app.tracking import buffer, machine, tokens
from tests.smtp_server import free_port

BROWSER = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
GIF_MAGIC = b"GIF89a"


def _get(client, path, agent=BROWSER, address="203.0.113.9", method="get", **kwargs):
    headers = {"User-Agent": agent}
    return getattr(client, method)(path, headers=headers, environ_base={"REMOTE_ADDR": address}, **kwargs)


def _counts():
    db.session.expire_all()
    return (
        db.session.scalar(sa.select(sa.func.count(EmailOpen.id))),
        db.session.scalar(sa.select(sa.func.count(EmailClick.id))),
    )


def test_pixel_answers_a_gif_not_cached_and_records_through_the_buffer(client, send_campaign, run_jobs, redis_conn):
    sent = send_campaign(count=1)
    [recipient] = sent.html

    response = _get(client, sent.pixel(recipient))

    assert response.status_code == 200 and response.mimetype == "image/gif"
    assert response.data.startswith(GIF_MAGIC)
    assert "no-store" in response.headers["Cache-Control"]
    assert redis_conn.llen(buffer.HITS) == 1 and _counts() == (0, 0)  # queued, not yet written
    run_jobs()  # the flush job the first hit rang for
    assert redis_conn.llen(buffer.HITS) == 0
    [row] = db.session.scalars(sa.select(EmailOpen)).all()
    assert (row.email_id, row.campaign_id, row.machine, row.reason) == (
        sent.emails[recipient],
        sent.campaign.id,
        False,
        None,
    )
    assert row.ip_prefix == "203.0.113.0/24" and row.user_agent == BROWSER  # never the full address
    [event] = db.session.scalars(sa.select(EmailEvent).where(EmailEvent.type == "opened")).all()
    assert event.email_id == sent.emails[recipient] and event.detail == "by a person"


def test_click_redirects_to_the_stored_url_and_is_recorded(client, send_campaign, run_jobs, monkeypatch):
    # The second click comes after an RQ job ran, which can take over a second on a loaded
    # machine: the burst window is widened so the test does not depend on the machine's speed.
    monkeypatch.setattr(machine, "BURST_SECONDS", 30.0)
    sent = send_campaign(count=1)
    [recipient] = sent.html
    news, shop, _ = sent.links(recipient)

    response = _get(client, shop)

    assert response.status_code == 302
    assert response.headers["Location"] == "http://example.org/shop"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    run_jobs()
    [click] = db.session.scalars(sa.select(EmailClick)).all()
    assert (click.email_id, click.machine) == (sent.emails[recipient], False)
    [event] = db.session.scalars(sa.select(EmailEvent).where(EmailEvent.type == "clicked")).all()
    assert event.detail == "http://example.org/shop"

    # Another link of the same message within a second: a scanner following every link. The
    # click already stored (an earlier batch) is re-marked too.
    assert _get(client, news).headers["Location"] == "https://example.com/news?a=1&b=2"
    run_jobs()
    db.session.expire_all()
    clicks = db.session.execute(sa.select(EmailClick.link_id, EmailClick.machine, EmailClick.reason)).all()
    assert [(machine, reason) for _, machine, reason in clicks] == [(True, "burst"), (True, "burst")]


@pytest.mark.parametrize(
    "mangle",
    [
        lambda token: token[:-1] + ("A" if token[-1] != "A" else "B"),  # a signature off by one character
        lambda token: token.replace(".", ".1", 1),  # another e-mail id... or link, under the same signature
        lambda token: "1.0.AAAAAAAAAAAA",
        lambda token: "not-a-token",
        lambda token: token + ".https:..evil.example.",
        lambda token: "1.99999.AAAAAAAAAAAA",
        lambda token: "9" * 30 + ".0.AAAAAAAAAAAA",
        lambda token: "1.0.ÄÄÄÄÄÄÄÄÄÄÄÄ",
    ],
)
def test_forged_tokens_get_the_gif_or_404_and_are_never_recorded(client, send_campaign, run_jobs, mangle):
    sent = send_campaign(count=1)
    [recipient] = sent.html
    click_token = sent.links(recipient)[0].removeprefix("/t/c/")
    open_token = sent.pixel(recipient).removeprefix("/t/o/").removesuffix(".gif")

    pixel = _get(client, f"/t/o/{mangle(open_token)}.gif")
    click = _get(client, f"/t/c/{mangle(click_token)}")

    assert pixel.status_code == 200 and pixel.data.startswith(GIF_MAGIC)
    assert click.status_code == 404 and "Location" not in click.headers
    run_jobs()
    assert _counts() == (0, 0)


@pytest.mark.parametrize(
    "path", ["%0d%0aLocation:%20https://evil.example/", "x/https://evil.example/", "//evil.example"]
)
def test_crafted_paths_never_redirect_elsewhere(client, send_campaign, run_jobs, path):
    send_campaign(count=1)

    response = _get(client, f"/t/c/{path}", follow_redirects=True)

    # Werkzeug may first merge "//" (a same-origin 308); nothing ever leads off the site.
    assert response.status_code == 404
    assert all(r.headers["Location"].startswith(("/", "http://localhost/")) for r in response.history)
    run_jobs()
    assert _counts() == (0, 0)


def test_a_valid_token_for_a_link_position_the_campaign_does_not_have_is_404(app, client, send_campaign):
    sent = send_campaign(count=1)
    [recipient] = sent.html
    key = tokens.tracking_key(app.config["SECRET_KEY"])
    token = tokens.click_token(key, sent.emails[recipient], 7)  # signed, but the campaign has 2 links

    assert _get(client, f"/t/c/{token}").status_code == 404


def test_a_click_token_is_no_open_token_and_the_other_way_round(client, send_campaign, run_jobs):
    sent = send_campaign(count=1)
    [recipient] = sent.html
    open_token = sent.pixel(recipient).removeprefix("/t/o/").removesuffix(".gif")
    click_token = sent.links(recipient)[0].removeprefix("/t/c/")

    assert _get(client, f"/t/c/{open_token}").status_code == 404
    assert _get(client, f"/t/o/{click_token}.gif").status_code == 200
    run_jobs()
    assert _counts() == (0, 0)


def test_without_redis_hits_are_written_directly(app, client, send_campaign, redis_conn):
    sent = send_campaign(count=1)
    [recipient] = sent.html
    app.extensions["redis"] = redis.Redis(port=free_port(), socket_connect_timeout=0.5)  # nothing listens there
    try:
        pixel = _get(client, sent.pixel(recipient))
        click = _get(client, sent.links(recipient)[1])
    finally:
        app.extensions["redis"] = redis_conn

    assert pixel.status_code == 200 and click.status_code == 302
    assert _counts() == (1, 1)
    assert redis_conn.llen(buffer.HITS) == 0


def test_the_maintenance_sweep_flushes_hits_whose_doorbell_was_lost(app, client, send_campaign, run_jobs, redis_conn):
    from app.jobs import tasks
    from app.jobs import tracking as tracking_jobs

    sent = send_campaign(count=1)
    [recipient] = sent.html
    _get(client, sent.pixel(recipient))
    from rq import Queue

    Queue(app.config["RQ_QUEUE"], connection=redis_conn).empty()  # the flush job is lost
    redis_conn.delete(tracking_jobs.DOORBELL)
    run_jobs()
    assert _counts() == (0, 0)

    tasks.maintenance()
    run_jobs()

    assert _counts() == (1, 0)


def test_many_hits_are_written_in_batches(app, client, send_campaign, run_jobs, redis_conn):
    sent = send_campaign(count=3)
    for recipient in sent.html:
        for _ in range(3):
            _get(client, sent.pixel(recipient))
        _get(client, sent.links(recipient)[0])
    assert redis_conn.llen(buffer.HITS) == 12

    written = buffer.drain(db.session, redis_conn, batch=5)

    assert written.written == 12 and _counts() == (9, 3)
    assert redis_conn.llen(buffer.HITS) == 0
    # Each e-mail's first open only gets a timeline line.
    assert db.session.scalar(sa.select(sa.func.count()).where(EmailEvent.type == "opened")) == 3


def test_a_malformed_buffered_hit_is_dropped_and_the_rest_written(client, send_campaign, redis_conn):
    sent = send_campaign(count=1)
    [recipient] = sent.html
    redis_conn.rpush(buffer.HITS, b"not json", b'["open", "x", null, 0, "GET", "", ""]')
    _get(client, sent.pixel(recipient))

    written = buffer.drain(db.session, redis_conn)

    assert written.written == 1 and _counts() == (1, 0) and redis_conn.llen(buffer.HITS) == 0


def test_a_second_drain_waits_for_the_first(client, send_campaign, redis_conn):
    sent = send_campaign(count=1)
    [recipient] = sent.html
    _get(client, sent.pixel(recipient))
    redis_conn.set(buffer.FLUSH_LOCK, "someone else", ex=60)

    assert buffer.drain(db.session, redis_conn).written == 0
    assert redis_conn.llen(buffer.HITS) == 1 and redis_conn.get(buffer.FLUSH_LOCK) == b"someone else"
