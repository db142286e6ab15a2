"""``GET /metrics``: what it counts, read from the real database and Redis, and who may read it."""

from __future__ import annotations

import secrets
from datetime import timedelta

import pytest
import redis
from prometheus_client.parser import text_string_to_metric_families
from rq import Queue, Worker

from app.delivery.breaker import Breaker
from app.extensions import db
from app.models import DeliveryAttempt, EmailKind, EmailStatus, Outcome, SentEmail
from app.models.base import utcnow
from tests.smtp_server import free_port

TOKEN = "s3cret-metrics-token"
ELSEWHERE = {"REMOTE_ADDR": "203.0.113.7"}


def samples(text: str) -> dict[tuple, float]:
    """{(sample name, sorted labels): value} from a text exposition."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def add_email(account_id: int, status: EmailStatus, durations_ms: tuple[tuple[int, int], ...] = ()) -> None:
    """A send-log row with one attempt per (duration in ms, minutes ago)."""
    email = SentEmail(
        account_id=account_id,
        recipient=f"{secrets.token_hex(4)}@example.com",
        kind=EmailKind.TRANSACTIONAL,
        status=status,
        message_id=f"<{secrets.token_hex(8)}@test>",
    )
    db.session.add(email)
    db.session.flush()
    for number, (duration, minutes_ago) in enumerate(durations_ms, 1):
        db.session.add(
            DeliveryAttempt(
                email_id=email.id,
                number=number,
                started_at=utcnow() - timedelta(minutes=minutes_ago),
                provider="default",
                host="mx.test:25",
                smtp_code=250,
                response="ok",
                outcome=Outcome.DELIVERED,
                duration_ms=duration,
            )
        )
    db.session.commit()


@pytest.fixture
def token(app, monkeypatch):
    monkeypatch.setitem(app.config, "METRICS_TOKEN", TOKEN)


def test_counts_emails_queues_workers_breakers_and_recent_attempt_durations(
    app, client, make_user, redis_conn, run_jobs
):
    one, other = make_user("one@example.com"), make_user("two@example.com")
    add_email(one.account_id, EmailStatus.DELIVERED, ((30, 1), (3000, 5)))
    add_email(other.account_id, EmailStatus.DELIVERED, ((70_000, 10),))
    add_email(other.account_id, EmailStatus.DEFERRED, ((200, 120),))  # two hours ago: not counted
    add_email(one.account_id, EmailStatus.QUEUED)
    mail_queue = Queue(app.config["RQ_QUEUE"], connection=redis_conn)
    mail_queue.enqueue("math.sqrt", -1)  # fails: math domain error
    run_jobs()
    mail_queue.enqueue("math.sqrt", 4)
    Queue(app.config["WEBHOOK_QUEUE"], connection=redis_conn).enqueue("math.sqrt", 9)
    Queue(app.config["WEBHOOK_QUEUE"], connection=redis_conn).enqueue("math.sqrt", 16)
    worker = Worker([mail_queue], connection=redis_conn, name="metrics-test-worker")
    worker.register_birth()
    Breaker(redis_conn, "domain:down.test").trip(at=redis_conn.time()[0])
    Breaker(redis_conn, "provider:7").trip(at=redis_conn.time()[0] - 120)  # past its cool-down
    Breaker(redis_conn, "domain:flaky.test").record_failure()
    try:
        response = client.get("/metrics")
    finally:
        worker.register_death()

    assert response.status_code == 200
    assert response.content_type.startswith("text/plain; version=0.0.4")
    assert response.headers["Cache-Control"] == "no-store"
    got = samples(response.text)
    emails = {dict(labels)["status"]: value for (name, labels), value in got.items() if name == "postroom_emails"}
    assert emails == {s.value: 0 for s in EmailStatus} | {"delivered": 2, "deferred": 1, "queued": 1}
    mail, hooks = app.config["RQ_QUEUE"], app.config["WEBHOOK_QUEUE"]
    assert got[("postroom_queue_depth", (("queue", mail),))] == 1
    assert got[("postroom_queue_depth", (("queue", hooks),))] == 2
    assert got[("postroom_queue_failed_jobs", (("queue", mail),))] == 1
    assert got[("postroom_queue_failed_jobs", (("queue", hooks),))] == 0
    assert got[("postroom_workers", (("queue", mail),))] == 1
    assert got[("postroom_workers", (("queue", hooks),))] == 0
    assert got[("postroom_breaker_state", (("kind", "domain"), ("target", "down.test")))] == 2
    assert got[("postroom_breaker_state", (("kind", "provider"), ("target", "7")))] == 1
    assert got[("postroom_breaker_state", (("kind", "domain"), ("target", "flaky.test")))] == 0
    assert got[("postroom_redis_up", ())] == 1

    def bucket(le: str) -> float:
        return got[("postroom_attempt_duration_seconds_bucket", (("le", le),))]

    # The last hour's attempts: 30 ms, 3 s and 70 s; the one from two hours ago is not counted.
    assert [bucket(le) for le in ("0.05", "0.1", "2.5", "5.0", "60.0", "+Inf")] == [1, 1, 1, 2, 2, 3]
    assert got[("postroom_attempt_duration_seconds_gcount", ())] == 3
    assert got[("postroom_attempt_duration_seconds_gsum", ())] == pytest.approx(73.03)


def test_openmetrics_when_the_scraper_asks_for_it(client):
    response = client.get("/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"})
    assert response.status_code == 200
    assert response.content_type.startswith("application/openmetrics-text")
    assert response.text.rstrip().endswith("# EOF")
    assert "# TYPE postroom_attempt_duration_seconds gaugehistogram" in response.text


def test_still_answers_with_the_database_metrics_when_redis_is_down(app, client, make_user, monkeypatch):
    add_email(make_user().account_id, EmailStatus.DELIVERED)
    # A real client pointed at a port where nothing listens: every command fails to connect.
    monkeypatch.setitem(
        app.extensions, "redis", redis.Redis(host="127.0.0.1", port=free_port(), socket_connect_timeout=0.5)
    )
    response = client.get("/metrics")
    assert response.status_code == 200
    got = samples(response.text)
    assert got[("postroom_redis_up", ())] == 0
    assert got[("postroom_emails", (("status", "delivered"),))] == 1
    assert not any(name.startswith(("postroom_queue", "postroom_workers")) for name, _ in got)


def test_without_a_token_only_direct_loopback_requests_are_served(client):
    assert client.get("/metrics").status_code == 200
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "::1"}).status_code == 200
    refused = client.get("/metrics", environ_base=ELSEWHERE)
    assert refused.status_code == 403
    assert "METRICS_TOKEN" in refused.text and "postroom_" not in refused.text
    # A proxy on this machine connects from loopback; its forwarding header gives it away.
    for header in ("X-Forwarded-For", "Forwarded", "X-Real-IP"):
        proxied = client.get("/metrics", headers={header: "203.0.113.7"})
        assert proxied.status_code == 403 and "postroom_" not in proxied.text
    # A token sent while none is configured opens nothing.
    assert client.get("/metrics", environ_base=ELSEWHERE, headers={"Authorization": "Bearer x"}).status_code == 403


def test_with_a_token_everyone_must_send_it(client, token):
    ok = client.get("/metrics", environ_base=ELSEWHERE, headers={"Authorization": f"Bearer {TOKEN}"})
    assert ok.status_code == 200 and "postroom_emails" in ok.text
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"}):
        for environ in (ELSEWHERE, {}):  # loopback too, once a token is configured
            refused = client.get("/metrics", environ_base=environ, headers=headers)
            assert refused.status_code == 401, (headers, environ)
            assert refused.headers["WWW-Authenticate"].startswith("Bearer")
            assert "postroom_" not in refused.text


def test_needs_no_dashboard_login_and_takes_only_get(client):
    assert client.get("/metrics").status_code == 200  # no session: Prometheus has none
    assert client.post("/metrics").status_code in (400, 405)  # CSRF or method: never served
