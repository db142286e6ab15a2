"""Idempotency-Key: a retry answers the first answer and sends nothing; a reused key with another body is 409."""

from __future__ import annotations

import threading
from datetime import timedelta

import sqlalchemy as sa

from app.extensions import db
from app.jobs import queue
from app.models import IdempotencyKey, SentEmail
from app.models.base import utcnow
from app.services import transactional
from tests.transactional.conftest import payload


def key(value: str = "order-1042-receipt") -> dict:
    """A fresh headers dict each time: the test clients add the token to the dict they are given."""
    return {"Idempotency-Key": value}


def _rows() -> int:
    return db.session.scalar(sa.select(sa.func.count(SentEmail.id)))


def test_the_same_key_and_payload_answers_the_first_answer_and_sends_once(api, run_jobs, smtp_server):
    first = api.post("/api/v1/emails", json=payload(), headers=key())
    run_jobs()

    again = api.post("/api/v1/emails", json=payload(), headers=key())
    run_jobs()

    assert first.status_code == again.status_code == 202
    assert again.get_json() == first.get_json()  # the stored first answer, status "queued" and all
    assert _rows() == 1
    assert len(smtp_server.received) == 1
    assert api.get(f"/api/v1/emails/{first.get_json()['id']}").get_json()["status"] == "delivered"


def test_the_same_key_with_another_payload_is_409(api, run_jobs, smtp_server):
    api.post("/api/v1/emails", json=payload(), headers=key())

    response = api.post("/api/v1/emails", json=payload(subject="Something else"), headers=key())

    assert response.status_code == 409
    error = response.get_json()["error"]
    assert error["field"] == "Idempotency-Key" and "different request" in error["message"]
    run_jobs()
    assert _rows() == 1 and len(smtp_server.received) == 1


def test_without_a_key_every_request_sends(api, run_jobs, smtp_server):
    api.post("/api/v1/emails", json=payload())
    api.post("/api/v1/emails", json=payload())
    run_jobs()

    assert _rows() == 2 and len(smtp_server.received) == 2


def test_keys_belong_to_one_account(api, anon, other, run_jobs, smtp_server):
    mine = api.post("/api/v1/emails", json=payload(), headers=key())
    theirs = anon.post("/api/v1/emails", json=payload(), headers=key() | {"Authorization": f"Bearer {other['token']}"})

    assert mine.status_code == theirs.status_code == 202
    assert mine.get_json()["id"] != theirs.get_json()["id"]


def test_a_key_is_free_again_after_24_hours(api, run_jobs, smtp_server):
    first = api.post("/api/v1/emails", json=payload(), headers=key())
    db.session.execute(sa.update(IdempotencyKey).values(created_at=utcnow() - timedelta(hours=24, seconds=1)))
    db.session.commit()

    later = api.post("/api/v1/emails", json=payload(subject="A new e-mail"), headers=key())

    assert later.status_code == 202
    assert later.get_json()["id"] != first.get_json()["id"]
    run_jobs()
    assert len(smtp_server.received) == 2
    # The key now answers the second request.
    assert (
        api.post("/api/v1/emails", json=payload(subject="A new e-mail"), headers=key()).get_json() == later.get_json()
    )


def test_a_failed_request_does_not_use_up_its_key(api, run_jobs, smtp_server):
    bad = api.post("/api/v1/emails", json=payload(to="not an address"), headers=key())
    good = api.post("/api/v1/emails", json=payload(), headers=key())

    assert (bad.status_code, good.status_code) == (422, 202)


def test_maintenance_forgets_keys_older_than_24_hours(api, run_jobs):
    api.post("/api/v1/emails", json=payload(), headers=key("old"))
    api.post("/api/v1/emails", json=payload(), headers=key("new"))
    db.session.execute(
        sa.update(IdempotencyKey).where(IdempotencyKey.key == "old").values(created_at=utcnow() - timedelta(hours=25))
    )
    db.session.commit()

    queue.maintenance()
    run_jobs()

    assert list(db.session.scalars(sa.select(IdempotencyKey.key))) == ["new"]
    assert transactional.forget_expired_keys() == 0


def test_a_bad_key_is_422(api):
    too_long = api.post("/api/v1/emails", json=payload(), headers=key("k" * 256))
    empty = api.post("/api/v1/emails", json=payload(), headers=key(""))

    assert too_long.status_code == empty.status_code == 422
    assert too_long.get_json()["error"]["field"] == "Idempotency-Key"
    assert _rows() == 0


def test_the_header_is_described_in_the_document(anon):
    operation = anon.get("/api/v1/openapi.json").get_json()["paths"]["/emails"]["post"]

    [header] = [p for p in operation["parameters"] if p["in"] == "header"]
    assert header["name"] == "Idempotency-Key" and header["required"] is False
    assert header["schema"] == {"type": "string", "maxLength": 255}
    assert {"202", "409", "422"} <= set(operation["responses"])


def test_concurrent_requests_with_one_key_make_one_email(app, api_token, run_jobs, smtp_server):
    threads, answers, start = 6, [], threading.Barrier(6)

    def post() -> None:
        client = app.test_client()
        start.wait()
        response = client.post(
            "/api/v1/emails", json=payload(), headers=key() | {"Authorization": f"Bearer {api_token}"}
        )
        answers.append((response.status_code, response.get_json()))

    workers = [threading.Thread(target=post) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)

    assert len(answers) == threads
    accepted = [body for status, body in answers if status == 202]
    busy = [body for status, body in answers if status == 409]
    assert len(accepted) + len(busy) == threads and accepted
    assert {body["id"] for body in accepted} == {accepted[0]["id"]}
    assert all("in progress" in body["error"]["message"] for body in busy)
    db.session.expire_all()
    assert _rows() == 1
    run_jobs()
    assert len(smtp_server.received) == 1


def test_concurrent_requests_with_one_key_and_different_payloads(app, api_token, run_jobs, smtp_server):
    answers, start = [], threading.Barrier(4)

    def post(subject: str) -> None:
        client = app.test_client()
        start.wait()
        response = client.post(
            "/api/v1/emails", json=payload(subject=subject), headers=key() | {"Authorization": f"Bearer {api_token}"}
        )
        answers.append(response.status_code)

    workers = [threading.Thread(target=post, args=(f"Subject {i}",)) for i in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)

    assert sorted(answers) == [202, 409, 409, 409]
    db.session.expire_all()
    assert _rows() == 1
    run_jobs()
    assert len(smtp_server.received) == 1
