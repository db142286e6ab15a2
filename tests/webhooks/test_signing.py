"""Standard Webhooks signing, checked against the spec's test vector and the reference package."""

from __future__ import annotations

import base64
import time

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from app.webhooks.signing import headers_for, new_secret, sign

BODY = b'{"type": "email.delivered", "timestamp": "2026-01-01T00:00:00Z", "data": {"email_id": 1}}'


def test_reference_test_vector():
    signature = sign(
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, b'{"test": 2432232314}'
    )
    assert signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_new_secret_is_32_random_bytes():
    secret = new_secret()
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"), validate=True)) == 32
    assert new_secret() != secret


def test_headers_verify_with_each_rotation_secret():
    current, previous = new_secret(), new_secret()
    timestamp = int(time.time())

    headers = headers_for([current, previous], "msg_42", timestamp, BODY)

    assert headers["webhook-id"] == "msg_42"
    assert headers["webhook-timestamp"] == str(timestamp)
    assert headers["content-type"] == "application/json"
    assert headers["user-agent"] == "Postroom-Webhooks/1"
    assert len(headers["webhook-signature"].split(" ")) == 2
    for secret in (current, previous):
        assert Webhook(secret).verify(BODY, headers) == {
            "type": "email.delivered",
            "timestamp": "2026-01-01T00:00:00Z",
            "data": {"email_id": 1},
        }


def test_tampering_or_another_secret_fails_verification():
    secret = new_secret()
    headers = headers_for([secret], "msg_42", int(time.time()), BODY)

    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(BODY.replace(b"1}", b"2}"), headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(BODY, {**headers, "webhook-id": "msg_43"})
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(BODY, headers)


@pytest.mark.parametrize(
    ("secret", "message"),
    [("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "must start with"), ("whsec_not base64!", "base64"), ("whsec_", "empty")],
)
def test_malformed_secret_is_refused(secret, message):
    with pytest.raises(ValueError, match=message):
        sign(secret, "msg_1", 1614265330, b"{}")


def test_headers_need_a_secret():
    with pytest.raises(ValueError, match="at least one"):
        headers_for([], "msg_1", 1614265330, b"{}")
