"""Every bad send request is a 422 naming its field, and nothing is written or sent."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import IdempotencyKey, SentEmail, TransactionalEmail
from tests.transactional.conftest import PDF, b64, payload

CASES = [
    ({"to": "not an address"}, "to", "not a valid e-mail address"),
    ({"to": None}, "to", "Field required"),
    ({"from_email": "billing@"}, "from_email", "not a valid e-mail address"),
    ({"subject": None}, "subject", "must not be empty"),
    ({"subject": "x" * 999}, "subject", "longer than 998"),
    ({"html": None, "text": None}, "html", "give html or text"),
    ({"html": " ", "text": ""}, "html", "give html or text"),
    ({"template_id": 1}, "template_id", "not both"),
    ({"variables": {"name": "Ada"}}, "variables", "only used with a template_id"),
    ({"html": "x" * (512 * 1024 + 1)}, "html", "bytes"),
    ({"attachments": [{"filename": "a.pdf", "content": "not base64!"}]}, "attachments.0.content", "not valid base64"),
    ({"attachments": [{"filename": "a.pdf", "content": "UERGLTEu\nNA=="}]}, "attachments.0.content", "base64"),
    ({"attachments": [{"filename": "a.pdf", "content": "UERGLTEuNA"}]}, "attachments.0.content", "base64"),
    ({"attachments": [{"filename": "a.pdf", "content": "UERGLTEuNB=="}]}, "attachments.0.content", "padded base64"),
    ({"attachments": [{"filename": "../../etc/passwd", "content": b64(PDF)}]}, "attachments.0.filename", "plain"),
    ({"attachments": [{"filename": 'a".pdf', "content": b64(PDF)}]}, "attachments.0.filename", "plain"),
    ({"attachments": [{"filename": "..", "content": b64(PDF)}]}, "attachments.0.filename", "plain"),
    ({"attachments": [{"filename": "", "content": b64(PDF)}]}, "attachments.0.filename", "must not be empty"),
    (
        {"attachments": [{"filename": "a.eml", "content": b64(PDF), "content_type": "multipart/mixed"}]},
        "attachments.0.content_type",
        "not multipart",
    ),
    (
        {"attachments": [{"filename": "a.pdf", "content": b64(PDF), "content_type": "text/plain; charset=x"}]},
        "attachments.0.content_type",
        "no parameters",
    ),
    ({"attachments": [{"filename": "a.pdf", "content": b64(PDF)}] * 21}, "attachments", "at most 20"),
    ({"attachments": [{"filename": "a.pdf"}]}, "attachments.0.content", "Field required"),
    ({"tags": ["ok", "x" * 65]}, "tags.1", "longer than 64"),
    ({"tags": ["a\nb"]}, "tags.0", "line breaks"),
    ({"tags": [str(i) for i in range(11)]}, "tags", "at most 10"),
    ({"metadata": {"order": 1042}}, "metadata.order", "string"),
    ({"metadata": {"nested": {"a": "b"}}}, "metadata.nested", "string"),
    ({"metadata": {"k": "v" * 5000}}, "metadata", "4096"),
    ({"metadata": {f"k{i}": "v" for i in range(51)}}, "metadata", "more than 50"),
    ({"cc": "someone@example.com"}, "cc", "unknown field"),
]


@pytest.mark.parametrize(("override", "field", "words"), CASES)
def test_a_bad_request_is_422_and_writes_nothing(api, run_jobs, smtp_server, override, field, words):
    response = api.post("/api/v1/emails", json=payload(**override), headers={"Idempotency-Key": "k1"})

    assert response.status_code == 422, response.get_json()
    error = response.get_json()["error"]
    assert (error["field"], error["code"]) == (field, "validation_error")
    assert words in error["message"]
    for model in (SentEmail, TransactionalEmail, IdempotencyKey):
        assert db.session.scalar(sa.select(sa.func.count()).select_from(model)) == 0
    run_jobs()
    assert smtp_server.received == []


def test_attachments_and_bodies_together_obey_the_size_limit(app, api, monkeypatch):
    monkeypatch.setitem(app.config, "TRANSACTIONAL_MAX_BYTES", 1000)
    fits = [{"filename": "a.bin", "content": b64(b"x" * 900)}]
    too_big = [{"filename": "a.bin", "content": b64(b"x" * 990)}]

    ok = api.post("/api/v1/emails", json=payload(attachments=fits))
    refused = api.post("/api/v1/emails", json=payload(attachments=too_big))

    assert ok.status_code == 202
    assert refused.status_code == 422
    assert refused.get_json()["error"]["field"] == "attachments"
    assert "the limit is 1000 bytes" in refused.get_json()["error"]["message"]


def test_the_default_size_limit_is_ten_megabytes(api):
    eleven = [{"filename": "big.bin", "content": b64(b"\0" * (10 * 1024 * 1024 + 1))}]

    response = api.post("/api/v1/emails", json=payload(attachments=eleven))

    assert response.status_code == 422
    assert response.get_json()["error"]["field"] in ("attachments", "attachments.0.content")
