"""Secrets at rest (app/crypto.py): SMTP passwords and webhook secrets are ciphertext in the database.

The raw values are read with plain SQL, never through the models; the app still sends through
the provider (to a relay that checks the password) and signs webhooks that the reference
``standardwebhooks`` library verifies. Migration 0012 is run for real on a scratch database.
"""

from __future__ import annotations

import os
from contextlib import contextmanager

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from flask_migrate import downgrade, upgrade

from app import create_app, crypto
from app.extensions import db
from app.models import EmailStatus, Provider, SentEmail, User, WebhookEndpoint
from app.services import campaigns, providers, webhooks
from app.webhooks import dispatch, outbox
from app.webhooks.dispatch import WebhookSettings
from tests.factories import add_subscribers, make_campaign, make_list
from tests.smtp_server import free_port
from tests.webhooks.receiver import Reply, receiver_fixture, verify  # noqa: F401

PASSWORD = "pa55-w0rd-at-rest"
URL = f"smtp://mailer:{PASSWORD}@relay.example.net:587?security=starttls"


def raw(table: str, column: str, row_id: int) -> str | None:
    """A column's value as stored, read with plain SQL."""
    return db.session.execute(sa.text(f"SELECT {column} FROM {table} WHERE id = :id"), {"id": row_id}).scalar()


def write_raw(table: str, column: str, row_id: int, value: str | None) -> None:
    db.session.execute(sa.text(f"UPDATE {table} SET {column} = :value WHERE id = :id"), {"value": value, "id": row_id})
    db.session.commit()
    db.session.expire_all()


@pytest.fixture
def owner(make_user):
    return make_user()


# The module


def test_encrypt_gives_a_prefixed_token_that_differs_each_time_and_decrypts(app):
    one, two = crypto.encrypt(PASSWORD), crypto.encrypt(PASSWORD)
    assert one.startswith("enc1:") and two.startswith("enc1:") and one != two
    assert PASSWORD not in one
    assert crypto.decrypt(one) == crypto.decrypt(two) == PASSWORD
    assert crypto.decrypt("whsec_legacy") == "whsec_legacy"  # no prefix: a legacy plaintext value
    assert crypto.decrypt(crypto.encrypt("")) == ""


def test_the_key_defaults_to_secret_key_and_encryption_key_replaces_it(app, monkeypatch):
    assert app.config["ENCRYPTION_KEY"] is None
    token = crypto.encrypt(PASSWORD)
    assert crypto.decrypt(token, [app.config["SECRET_KEY"]]) == PASSWORD
    with pytest.raises(crypto.UndecryptableSecret):
        crypto.decrypt(token, ["another key"])

    monkeypatch.setitem(app.config, "ENCRYPTION_KEY", "a dedicated encryption key")
    assert crypto.decrypt(crypto.encrypt(PASSWORD), ["a dedicated encryption key"]) == PASSWORD
    with pytest.raises(crypto.UndecryptableSecret):
        crypto.decrypt(token)  # written under SECRET_KEY, which is no longer a key


def test_keys_come_from_the_environment_outside_the_app_like_the_app_reads_them(monkeypatch):
    monkeypatch.setenv("ENCRYPTION_KEY", "from-the-env")
    monkeypatch.setenv("ENCRYPTION_OLD_KEYS", " old-1 , ,old-2")
    assert crypto.keys() == ("from-the-env", "old-1", "old-2")  # no app context here: load_settings
    assert crypto.keys({"SECRET_KEY": "s", "ENCRYPTION_KEY": None, "ENCRYPTION_OLD_KEYS": ""}) == ("s",)
    with pytest.raises(RuntimeError, match="ENCRYPTION_KEY"):
        crypto.keys({"SECRET_KEY": "", "ENCRYPTION_KEY": None})


def test_a_bad_setting_is_refused_at_startup(monkeypatch):
    from app.config import load_settings

    monkeypatch.setenv("PROXY_FIX", "two")
    with pytest.raises(ValueError, match="PROXY_FIX must be a whole number"):
        load_settings()


# Providers


def test_the_provider_url_is_ciphertext_in_the_database_and_plaintext_in_the_app(app, owner):
    provider = providers.create(owner.account_id, "Relay", URL)
    stored = raw("providers", "smtp_url", provider.id)
    assert stored.startswith("enc1:")
    assert PASSWORD not in stored and "mailer" not in stored and "relay.example.net" not in stored
    db.session.expire_all()
    assert db.session.get(Provider, provider.id).smtp_url == URL
    assert providers.get(owner.account_id, provider.id).redacted_url == URL.replace(PASSWORD, "***")

    providers.update(owner.account_id, provider.id, smtp_url=URL.replace(PASSWORD, "n3w-secret"))
    stored = raw("providers", "smtp_url", provider.id)
    assert stored.startswith("enc1:") and "n3w-secret" not in stored
    assert crypto.decrypt(stored) == URL.replace(PASSWORD, "n3w-secret")


class _Checked:
    def __init__(self):
        self.logins: list[tuple[bytes, bytes]] = []

    def __call__(self, server, session, envelope, mechanism, auth_data):
        self.logins.append((auth_data.login, auth_data.password))
        return AuthResult(success=auth_data.password == PASSWORD.encode())


class _Collect:
    def __init__(self):
        self.received: list[list[str]] = []

    async def handle_DATA(self, server, session, envelope):
        self.received.append(list(envelope.rcpt_tos))
        return "250 2.0.0 OK"


@contextmanager
def relay_with_password():
    """A loopback SMTP relay that accepts mail only after AUTH with ``PASSWORD``."""
    checked, handler, port = _Checked(), _Collect(), free_port()
    controller = Controller(
        handler, hostname="127.0.0.1", port=port, authenticator=checked, auth_required=True, auth_require_tls=False
    )
    controller.start()
    try:
        yield port, checked, handler
    finally:
        controller.stop()


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_mail_goes_out_through_the_provider_with_the_decrypted_password(app, owner, run_jobs):
    with relay_with_password() as (port, checked, relay):
        provider = providers.create(
            owner.account_id, "Relay", f"smtp://mailer:{PASSWORD}@127.0.0.1:{port}?security=none"
        )
        assert PASSWORD not in raw("providers", "smtp_url", provider.id)
        mailing_list = make_list(owner.account_id)
        add_subscribers(owner.account_id, mailing_list.id, 2)
        campaign = make_campaign(owner.account_id, mailing_list.id)
        campaigns.send(owner.account_id, campaign.id)
        run_jobs()
    statuses = {e.status for e in db.session.scalars(sa.select(SentEmail))}
    assert statuses == {EmailStatus.DELIVERED}
    assert len(relay.received) == 2
    assert checked.logins and set(checked.logins) == {(b"mailer", PASSWORD.encode())}


def test_a_legacy_plaintext_url_still_works_and_is_encrypted_when_it_changes(app, owner):
    provider = providers.create(owner.account_id, "Relay", URL)
    write_raw("providers", "smtp_url", provider.id, URL)  # as stored before migration 0012
    assert db.session.get(Provider, provider.id).smtp_url == URL
    providers.update(owner.account_id, provider.id, priority=3)
    assert raw("providers", "smtp_url", provider.id) == URL  # other fields change, the value stays
    changed = URL.replace("mailer", "sender")
    providers.update(owner.account_id, provider.id, smtp_url=changed)
    stored = raw("providers", "smtp_url", provider.id)
    assert stored.startswith("enc1:") and crypto.decrypt(stored) == changed


def test_a_value_no_key_opens_is_a_clear_error_and_an_old_key_opens_it(app, owner, monkeypatch):
    provider = providers.create(owner.account_id, "Relay", URL)
    db.session.expire_all()
    monkeypatch.setitem(app.config, "ENCRYPTION_KEY", "the new key")

    with pytest.raises(crypto.UndecryptableSecret) as refused:
        db.session.get(Provider, provider.id)
    message = str(refused.value)
    assert "ENCRYPTION_KEY" in message and "ENCRYPTION_OLD_KEYS" in message and PASSWORD not in message
    db.session.rollback()
    db.session.expire_all()

    # Rotation: the old key (here SECRET_KEY) reads what it wrote; new writes use the new key.
    monkeypatch.setitem(app.config, "ENCRYPTION_OLD_KEYS", f"unrelated,{app.config['SECRET_KEY']}")
    assert db.session.get(Provider, provider.id).smtp_url == URL
    changed = URL.replace("mailer", "sender")
    providers.update(owner.account_id, provider.id, smtp_url=changed)
    assert crypto.decrypt(raw("providers", "smtp_url", provider.id), ["the new key"]) == changed


def test_reencrypt_moves_every_value_to_the_current_key(app, owner, monkeypatch):
    provider = providers.create(owner.account_id, "Relay", URL)
    endpoint = webhooks.create(owner.account_id, "https://hooks.example.com/a", ["email.delivered"])
    secret = endpoint.secret
    legacy = providers.create(owner.account_id, "Legacy", URL.replace("mailer", "legacy"))
    write_raw("providers", "smtp_url", legacy.id, URL.replace("mailer", "legacy"))
    monkeypatch.setitem(app.config, "ENCRYPTION_KEY", "the new key")
    monkeypatch.setitem(app.config, "ENCRYPTION_OLD_KEYS", app.config["SECRET_KEY"])

    assert crypto.reencrypt(db.session.connection(), db.metadata) == 3  # two URLs and one secret
    db.session.commit()
    assert crypto.reencrypt(db.session.connection(), db.metadata) == 0  # nothing left to move

    only_new = ["the new key"]
    assert crypto.decrypt(raw("providers", "smtp_url", provider.id), only_new) == URL
    assert crypto.decrypt(raw("providers", "smtp_url", legacy.id), only_new) == URL.replace("mailer", "legacy")
    assert crypto.decrypt(raw("webhook_endpoints", "secret", endpoint.id), only_new) == secret
    assert raw("webhook_endpoints", "previous_secret", endpoint.id) is None


# Webhooks


def test_webhook_secrets_are_ciphertext_and_requests_still_verify(app, owner, receiver, monkeypatch):
    monkeypatch.setitem(app.config, "WEBHOOK_ALLOW_PRIVATE", True)
    endpoint = webhooks.create(owner.account_id, receiver.url("/hook"), ["email.delivered"])
    first = endpoint.secret
    assert first.startswith("whsec_")
    stored = raw("webhook_endpoints", "secret", endpoint.id)
    assert stored.startswith("enc1:") and first not in stored and first.removeprefix("whsec_") not in stored

    rotated = webhooks.rotate_secret(owner.account_id, endpoint.id, overlap_seconds=3600)
    second = rotated.secret
    assert raw("webhook_endpoints", "previous_secret", endpoint.id).startswith("enc1:")
    assert crypto.decrypt(raw("webhook_endpoints", "previous_secret", endpoint.id)) == first
    assert crypto.decrypt(raw("webhook_endpoints", "secret", endpoint.id)) == second

    receiver.script("/hook", Reply(200))
    outbox.emit(db.session, owner.account_id, "email.delivered", {"email_id": 7})
    db.session.commit()
    result = dispatch.drain(db.session, WebhookSettings(timeout=5.0, allow_private=True), budget=30)
    assert result.sent == 1
    [hit] = receiver.to("/hook")
    assert verify(second, hit)["data"] == {"email_id": 7}  # the reference library, with the plaintext secret
    assert verify(first, hit)["data"] == {"email_id": 7}  # the previous secret signs during the overlap


def test_a_legacy_plaintext_webhook_secret_still_signs(app, owner, receiver):
    endpoint = webhooks.create(owner.account_id, receiver.url("/hook"), ["email.delivered"])
    legacy = endpoint.secret
    write_raw("webhook_endpoints", "secret", endpoint.id, legacy)
    assert db.session.get(WebhookEndpoint, endpoint.id).secret == legacy
    receiver.script("/hook", Reply(200))
    outbox.emit(db.session, owner.account_id, "email.delivered", {"email_id": 8})
    db.session.commit()
    assert dispatch.drain(db.session, WebhookSettings(timeout=5.0, allow_private=True), budget=30).sent == 1
    [hit] = receiver.to("/hook")
    assert verify(legacy, hit)["data"] == {"email_id": 8}


# Migration 0012


@pytest.fixture
def scratch(app, tmp_path):
    """A second app on an empty database (SQLite file, or a PostgreSQL schema), for migrating."""
    url = os.environ.get("TEST_DATABASE_URL")
    if url and url.startswith("postgresql"):
        with db.engine.begin() as conn:
            conn.execute(sa.text("DROP SCHEMA IF EXISTS scratch_0012 CASCADE; CREATE SCHEMA scratch_0012"))
        url = f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3Dscratch_0012"
    else:
        url = f"sqlite:///{tmp_path / 'scratch.db'}"
    other = create_app(
        {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": url,
            "REDIS_URL": "redis://127.0.0.1:1/0",  # never connected to: migrations need no Redis
            "SECRET_KEY": app.config["SECRET_KEY"],
        }
    )
    with other.app_context():
        yield other
        db.session.remove()
        db.engine.dispose()
    if url.startswith("postgresql"):
        with db.engine.begin() as conn:
            conn.execute(sa.text("DROP SCHEMA scratch_0012 CASCADE"))


def _seed_plaintext() -> dict[str, int]:
    """What a database at 0011 holds: plaintext URLs and secrets."""
    run = db.session.execute
    run(sa.text("INSERT INTO accounts (name, created_at) VALUES ('Old', CURRENT_TIMESTAMP)"))
    account = run(sa.text("SELECT id FROM accounts")).scalar()
    run(
        sa.text(
            "INSERT INTO providers (account_id, name, smtp_url, priority, weight, enabled, created_at)"
            " VALUES (:a, 'Relay', :url, 0, 1, :yes, CURRENT_TIMESTAMP)"
        ),
        {"a": account, "url": URL, "yes": True},
    )
    for secret, previous in (("whsec_Y3VycmVudA==", "whsec_cHJldmlvdXM="), ("whsec_b25seQ==", None)):
        run(
            sa.text(
                "INSERT INTO webhook_endpoints (account_id, url, description, events, enabled, secret,"
                " previous_secret, created_at, updated_at) VALUES (:a, 'https://h.example.com/', '', '[]', :yes,"
                " :secret, :previous, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
            ),
            {"a": account, "yes": True, "secret": secret, "previous": previous},
        )
    db.session.commit()
    return {"provider": run(sa.text("SELECT id FROM providers")).scalar()}


def _stored() -> list:
    rows = db.session.execute(sa.text("SELECT smtp_url FROM providers")).scalars().all()
    rows += db.session.execute(sa.text("SELECT secret, previous_secret FROM webhook_endpoints ORDER BY id")).all()
    return rows


def migrate(command, revision: str) -> None:
    """Run ``flask db upgrade/downgrade``, with no transaction of ours open (PostgreSQL's ALTER
    TABLE would wait for it forever)."""
    db.session.remove()
    command(revision=revision)


def test_migration_encrypts_existing_plaintext_and_downgrade_decrypts(scratch):
    migrate(upgrade, "0011")
    ids = _seed_plaintext()
    plain = _stored()
    assert plain == [URL, ("whsec_Y3VycmVudA==", "whsec_cHJldmlvdXM="), ("whsec_b25seQ==", None)]

    migrate(upgrade, "0012")
    [url, (secret, previous), (only, nothing)] = _stored()
    assert all(crypto.is_encrypted(v) for v in (url, secret, previous, only)) and nothing is None
    assert PASSWORD not in url and "Y3VycmVudA" not in secret
    assert [crypto.decrypt(v) for v in (url, secret, previous, only)] == [
        URL,
        "whsec_Y3VycmVudA==",
        "whsec_cHJldmlvdXM=",
        "whsec_b25seQ==",
    ]
    assert db.session.get(Provider, ids["provider"]).smtp_url == URL  # the app reads it
    columns = {c["name"]: c["type"] for c in sa.inspect(db.engine).get_columns("webhook_endpoints")}
    assert isinstance(columns["secret"], sa.Text)

    # Downgrading and upgrading again is safe; a second run would not encrypt twice.
    migrate(downgrade, "0011")
    assert _stored() == plain
    migrate(upgrade, "0012")
    assert [crypto.decrypt(v) for v in (_stored()[0], *_stored()[1])] == [URL, *plain[1]]


def test_downgrade_with_the_wrong_key_stops_with_a_clear_error(scratch):
    migrate(upgrade, "0011")
    _seed_plaintext()
    migrate(upgrade, "0012")
    db.session.remove()
    scratch.config["ENCRYPTION_KEY"] = "not the key that encrypted them"
    with pytest.raises(crypto.UndecryptableSecret, match="ENCRYPTION_OLD_KEYS"):
        migrate(downgrade, "0011")
    scratch.config["ENCRYPTION_OLD_KEYS"] = scratch.config["SECRET_KEY"]
    migrate(downgrade, "0011")
    assert _stored()[0] == URL


def test_a_two_factor_secret_is_ciphertext_in_the_database(app, owner):
    import pyotp

    from app.services import totp
    from tests.conftest import PASSWORD as OWNER_PASSWORD

    secret = totp.new_secret()
    totp.enable(owner, secret, OWNER_PASSWORD, pyotp.TOTP(secret).now())

    stored = raw("users", "totp_secret", owner.id)
    assert stored.startswith("enc1:") and secret not in stored
    db.session.expire_all()
    assert db.session.get(User, owner.id).totp_secret == secret
