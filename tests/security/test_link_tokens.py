"""Confirm and unsubscribe links: no forgery works, and every one answers like an unknown token.

The table below holds each class of forgery (research B8): a changed character anywhere, another
subscriber's id, the MAC of another list or of the other purpose, another key, a MAC cut short or
made longer, other encodings, non-ASCII, huge and malformed tokens, ids no database holds, and
links that were genuine once (used, expired, superseded, for an address unsubscribed since, for
a deleted subscriber). Each token goes to ``/c/`` and ``/u/`` by GET, by POST and by the RFC 8058
one-click POST; each answer must be byte for byte the answer to a random unknown token, and the
database must be exactly as it was. The genuine links, tried last, still work: the refusals were
the forgeries'.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from datetime import timedelta
from urllib.parse import quote

import pytest
import sqlalchemy as sa

from app import links
from app.extensions import db
from app.models import SentEmail, Subscriber
from app.models.base import utcnow
from app.services import subscribers, webhooks
from tests.factories import make_list

METHODS = {
    "GET": {"method": "GET"},
    "POST": {"method": "POST"},
    "one-click POST": {"method": "POST", "data": {"List-Unsubscribe": "One-Click"}},
}
PREFIXES = ("c", "u")
ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


@pytest.fixture
def world(app, make_user, monkeypatch):
    """A pending subscriber (confirm link) and a confirmed one (unsubscribe link) on list "Home"."""
    # Hundreds of links that are not valid come from one address here: the per-address link
    # limit (tests/security/test_public_limits.py) would answer 429 long before the end.
    monkeypatch.setitem(app.config, "LINK_RATE_LIMIT", "")
    user = make_user()
    home = make_list(user.account_id, "Home")
    other = make_list(user.account_id, "Other")
    # A webhook endpoint, so a confirmation or unsubscription would also write an event row.
    webhooks.create(user.account_id, "https://hooks.example.com/a", ["subscriber.confirmed", "subscriber.unsubscribed"])
    subscribers.subscribe(home.public_id, "pending@example.com")
    pending = db.session.scalar(sa.select(Subscriber).where(Subscriber.email == "pending@example.com"))
    reader = subscribers.add(user.account_id, home.id, "reader@example.com")
    elsewhere = subscribers.add(user.account_id, other.id, "reader@example.com")
    stranger_user = make_user("stranger@example.com")
    stranger = subscribers.add(stranger_user.account_id, make_list(stranger_user.account_id).id, "s@example.com")
    secret = app.config["SECRET_KEY"]
    return {
        "secret": secret,
        "account_id": user.account_id,
        "home": home,
        "other": other,
        "pending": pending,
        "reader": reader,
        "elsewhere": elsewhere,
        "stranger": stranger,
        "confirm": links.confirm_token(secret, pending.id, home.id, pending.confirm_nonce),
        "unsubscribe": links.unsubscribe_token(secret, reader.id, home.id),
    }


def _mac_of(token: str) -> str:
    return token.rsplit(".", 1)[1]


def _head(token: str) -> str:
    return token.rsplit(".", 1)[0]


def _each_char_changed(token: str, start: int) -> list[str]:
    """``token`` with each character from ``start`` on replaced by another of the alphabet."""
    out = []
    for i in range(start, len(token)):
        if token[i] == ".":
            continue
        other = "A" if token[i] != "A" else "B"
        out.append(token[:i] + other + token[i + 1 :])
    return out


def _full_mac(secret: str, *parts: object) -> str:
    digest = hmac.new(secret.encode(), ":".join(map(str, parts)).encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _both(tokens: list[str]) -> list[tuple[str, str]]:
    return [(prefix, token) for token in tokens for prefix in PREFIXES]


def _changed_characters(w):
    confirm, unsub = w["confirm"], w["unsubscribe"]
    return [("c", t) for t in _each_char_changed(confirm, 0)] + [("u", t) for t in _each_char_changed(unsub, 0)]


def _other_subscriber_id(w):
    confirm, unsub, pending, reader = w["confirm"], w["unsubscribe"], w["pending"], w["reader"]
    nonce_and_mac = confirm.split(".", 1)[1]
    return [
        ("c", f"{reader.id}.{nonce_and_mac}"),
        ("c", f"{pending.id + 1}.{nonce_and_mac}"),
        ("c", f"{w['stranger'].id}.{nonce_and_mac}"),
        ("c", f"{pending.id + 100000}.{nonce_and_mac}"),
        ("u", f"{pending.id}.{_mac_of(unsub)}"),
        ("u", f"{reader.id + 1}.{_mac_of(unsub)}"),
        ("u", f"{w['elsewhere'].id}.{_mac_of(unsub)}"),
        ("u", f"{w['stranger'].id}.{_mac_of(unsub)}"),
        ("u", f"{reader.id + 100000}.{_mac_of(unsub)}"),
    ]


def _other_list(w):
    secret, pending, reader, other = w["secret"], w["pending"], w["reader"], w["other"]
    elsewhere_mac = _mac_of(links.unsubscribe_token(secret, w["elsewhere"].id, other.id))
    return [
        ("c", links.confirm_token(secret, pending.id, other.id, pending.confirm_nonce)),
        ("c", links.confirm_token(secret, pending.id, w["stranger"].list_id, pending.confirm_nonce)),
        ("u", links.unsubscribe_token(secret, reader.id, other.id)),
        ("u", f"{reader.id}.{elsewhere_mac}"),  # the same address's genuine MAC on its other list
        ("u", links.unsubscribe_token(secret, w["stranger"].id, w["home"].id)),  # another account's subscriber
    ]


def _other_purpose(w):
    secret, pending, reader, home = w["secret"], w["pending"], w["reader"], w["home"]
    nonce = pending.confirm_nonce
    return [
        ("c", links.unsubscribe_token(secret, pending.id, home.id)),
        ("c", f"{pending.id}.{nonce}.{links._mac(secret, links.UNSUBSCRIBE, pending.id, home.id, nonce)}"),
        ("c", f"{pending.id}.{nonce}.{_mac_of(links.unsubscribe_token(secret, pending.id, home.id))}"),
        ("u", w["confirm"]),
        ("u", f"{reader.id}.{links._mac(secret, links.CONFIRM, reader.id, home.id)}"),
        ("u", f"{pending.id}.{_mac_of(w['confirm'])}"),
    ]


def _another_key(w):
    pending, reader, home = w["pending"], w["reader"], w["home"]
    out = []
    for key in ("rotated-" + w["secret"], "", w["secret"][:-1], w["secret"].upper()):
        if key == w["secret"]:
            continue
        out.append(("c", links.confirm_token(key, pending.id, home.id, pending.confirm_nonce)))
        out.append(("u", links.unsubscribe_token(key, reader.id, home.id)))
    return out


def _cut_or_extended(w):
    out = []
    for prefix, token in (("c", w["confirm"]), ("u", w["unsubscribe"])):
        mac, head = _mac_of(token), _head(token)
        for changed in (mac[:-1], mac[:-2], mac[:11], mac[:1], mac + "A", mac + "AA", mac + "==", mac[:-1] + "="):
            out.append((prefix, f"{head}.{changed}"))
        out.append((prefix, f"{head}."))
        out.append((prefix, head))
    pending, reader, home, secret = w["pending"], w["reader"], w["home"], w["secret"]
    # The whole 256-bit HMAC, not cut to the 128 bits we send.
    full = _full_mac(secret, links.CONFIRM, pending.id, home.id, pending.confirm_nonce)
    out.append(("c", f"{pending.id}.{pending.confirm_nonce}.{full}"))
    out.append(("u", f"{reader.id}.{_full_mac(secret, links.UNSUBSCRIBE, reader.id, home.id)}"))
    return out


def _other_encoding(w):
    out = []
    for prefix, token in (("c", w["confirm"]), ("u", w["unsubscribe"])):
        mac, head = _mac_of(token), _head(token)
        raw = base64.urlsafe_b64decode(mac + "==")
        for changed in (mac.swapcase(), mac.upper(), mac.lower(), raw.hex(), base64.b64encode(raw).decode()):
            if changed != mac:
                out.append((prefix, f"{head}.{changed}"))
        out.append((prefix, token.upper()))
        # (Percent-encoding the dots, %2E, is the genuine token: a URL means the same either way.)
    return out


def _non_ascii(w):
    confirm, unsub, pending = w["confirm"], w["unsubscribe"], w["pending"]
    arabic = "".join(chr(0x0660 + int(d)) for d in str(pending.id))
    fullwidth = "".join(chr(0xFF10 + int(d)) for d in str(pending.id))
    tokens = []
    for token in (confirm, unsub):
        rest = token.split(".", 1)[1]
        tokens += [
            token + "é",
            token[:-1] + "é",
            token[:-1] + "\u0661",
            f"{arabic}.{rest}",
            f"{fullwidth}.{rest}",
            f"\u00b2.{rest}",
            f"{_head(token)}.\ufffd{_mac_of(token)[1:]}",
            token[:-2] + "🙂",
            token + "%FF",
            token[:-1] + "%FF",
            f"%C0%AE.{rest}",
            token + "\u200b",
        ]
    return _both(tokens)


def _huge(w):
    confirm, unsub = w["confirm"], w["unsubscribe"]
    tokens = [
        "A" * 8_000,
        "1." + "A" * 8_000,
        "1" * 400 + "." + _mac_of(unsub),
        confirm + "A" * 4_000,
        unsub + "." + "A" * 4_000,
        ".".join([_head(confirm)] * 200) + "." + _mac_of(confirm),
    ]
    return _both(tokens)


def _ids_no_database_holds(w):
    tokens = []
    for token in (w["confirm"], w["unsubscribe"]):
        rest = token.split(".", 1)[1]
        sid = token.split(".", 1)[0]
        tokens += [
            f"0.{rest}",
            f"-1.{rest}",
            f"-{sid}.{rest}",
            f"+{sid}.{rest}",
            f"2147483648.{rest}",
            f"9223372036854775808.{rest}",
            f"{'9' * 30}.{rest}",
            f"0{sid}.{rest}",
            f"000{sid}.{rest}",
            f" {sid}.{rest}",
            f"{sid}e0.{rest}",
            f"0x{int(sid):x}.{rest}",
        ]
    return _both(tokens)


def _malformed(w):
    confirm, unsub = w["confirm"], w["unsubscribe"]
    tokens = [
        "",
        ".",
        "..",
        "...",
        "a",
        "1",
        "1.",
        "1..",
        "%20",
        "%00",
        "a/b",
        "1/" + _mac_of(unsub),
        f".{_mac_of(unsub)}",
        f"{_head(unsub)}..{_mac_of(unsub)}",
    ]
    for token in (confirm, unsub):
        tokens += [
            token + "/",
            token + "/x",
            "x/" + token,
            token + "%00",
            token + "%0A",
            token + "%0D%0A",
            token + "%20",
            "%20" + token,
            token + "." + _mac_of(token),
            token.replace(".", "/"),
            token.replace(".", ";"),
        ]
    return _both(tokens)


def _used_confirm_link(w):
    assert subscribers.confirm(w["confirm"]) is not None
    return [("c", w["confirm"])]


def _expired_confirm_link(w):
    w["pending"].confirm_sent_at = utcnow() - subscribers.CONFIRM_VALID_FOR - timedelta(minutes=1)
    db.session.commit()
    return [("c", w["confirm"])]


def _superseded_confirm_link(w):
    subscribers.subscribe(w["home"].public_id, "pending@example.com")  # a new e-mail, a new nonce
    db.session.refresh(w["pending"])
    assert w["pending"].confirm_nonce not in w["confirm"]
    return [("c", w["confirm"])]


def _confirm_link_after_unsubscribing(w):
    subscribers.update(w["account_id"], w["pending"].id, status="unsubscribed")
    return [("c", w["confirm"])]


def _confirm_link_signed_over_no_nonce(w):
    # What a confirmation e-mail would carry if rendered for a subscriber with no nonce.
    secret, reader, home = w["secret"], w["reader"], w["home"]
    unsubscribed = w["elsewhere"]
    subscribers.update(w["account_id"], unsubscribed.id, status="unsubscribed")
    return [
        ("c", links.confirm_token(secret, reader.id, home.id, "-")),
        ("c", links.confirm_token(secret, unsubscribed.id, unsubscribed.list_id, "-")),
    ]


def _deleted_subscriber(w):
    secret, home = w["secret"], w["home"]
    gone = subscribers.add(w["account_id"], home.id, "gone@example.com", status="pending")
    tokens = [
        ("c", links.confirm_token(secret, gone.id, home.id, gone.confirm_nonce)),
        ("u", links.unsubscribe_token(secret, gone.id, home.id)),
    ]
    db.session.execute(sa.delete(SentEmail).where(SentEmail.subscriber_id == gone.id))
    db.session.delete(gone)
    db.session.commit()
    return tokens


def _stranger_deleted(w):
    # Another account's genuine link, after its subscriber row went away.
    stranger = w["stranger"]
    token = links.unsubscribe_token(w["secret"], stranger.id, stranger.list_id)
    db.session.delete(stranger)
    db.session.commit()
    return [("u", token)]


FORGERIES = {
    "a character changed anywhere": _changed_characters,
    "another subscriber's id": _other_subscriber_id,
    "the MAC of another list": _other_list,
    "the MAC of the other purpose": _other_purpose,
    "signed with another key": _another_key,
    "MAC cut short or made longer": _cut_or_extended,
    "MAC in another case or encoding": _other_encoding,
    "non-ASCII characters": _non_ascii,
    "huge tokens": _huge,
    "ids no database holds": _ids_no_database_holds,
    "malformed tokens": _malformed,
    "confirm link already used": _used_confirm_link,
    "confirm link expired": _expired_confirm_link,
    "confirm link superseded by a newer one": _superseded_confirm_link,
    "confirm link of an address unsubscribed since": _confirm_link_after_unsubscribing,
    "confirm link signed over no nonce": _confirm_link_signed_over_no_nonce,
    "link of a deleted subscriber": _deleted_subscriber,
    "link of another account's deleted subscriber": _stranger_deleted,
}


def _path(prefix: str, token: str) -> str:
    # Percent signs in the table are already encodings of their own (%FF, %00, %2E).
    return f"/{prefix}/{quote(token, safe='/%;+')}"


def _answer(client, path: str, method: str) -> tuple[int, str]:
    response = client.open(path, **METHODS[method])
    return response.status_code, response.get_data(as_text=True)


def _references(client) -> dict:
    """What a random unknown token gets, per prefix and method."""
    unknown = {
        "c": f"{secrets.randbelow(10**6) + 10**6}.{secrets.token_urlsafe(16)}.{secrets.token_urlsafe(16)}",
        "u": f"{secrets.randbelow(10**6) + 10**6}.{secrets.token_urlsafe(16)}",
    }
    return {(p, m): _answer(client, _path(p, unknown[p]), m) for p in PREFIXES for m in METHODS}


def _database() -> dict:
    """Every row of every table: "nothing changed" means exactly that."""
    db.session.expire_all()
    return {
        table.name: sorted(map(tuple, db.session.execute(table.select()).all()), key=repr)
        for table in db.metadata.sorted_tables
    }


@pytest.mark.parametrize("forgery", list(FORGERIES))
def test_every_forgery_answers_like_an_unknown_token_and_changes_nothing(app, client, world, forgery):
    references = _references(client)
    status, body = references[("c", "GET")]
    assert status == 404 and "not valid" in body
    # The four pages answer an unknown token alike: no prefix or method tells anything apart.
    assert len(set(references.values())) == 1

    tokens = FORGERIES[forgery](world)
    assert tokens, forgery
    before = _database()
    tried = 0
    for prefix, token in tokens:
        for method in METHODS:
            got = _answer(client, _path(prefix, token), method)
            assert got == references[(prefix, method)], (forgery, prefix, method, token[:80], got[0])
            tried += 1
    assert _database() == before, forgery
    assert tried == len(tokens) * len(METHODS)


def test_the_genuine_links_work_after_all_that(app, client, world):
    """The control: the same links, unaltered, are accepted (so the refusals above were real)."""
    for forgery in ("a character changed anywhere", "malformed tokens", "another subscriber's id"):
        for prefix, token in FORGERIES[forgery](world):
            client.post(_path(prefix, token))
    assert client.get(f"/c/{world['confirm']}").status_code == 200
    assert client.post(f"/c/{world['confirm']}").status_code == 200
    assert client.post(f"/u/{world['unsubscribe']}", data={"List-Unsubscribe": "One-Click"}).status_code == 200
    db.session.expire_all()
    assert db.session.get(Subscriber, world["pending"].id).status.value == "confirmed"
    assert db.session.get(Subscriber, world["reader"].id).status.value == "unsubscribed"
    # The reader's other list is a separate subscription: untouched.
    assert db.session.get(Subscriber, world["elsewhere"].id).status.value == "confirmed"


def test_a_get_never_confirms_or_unsubscribes(client, world):
    """Link scanners open every link in a mail: the pages only show a button."""
    for _ in range(3):
        assert client.get(f"/c/{world['confirm']}").status_code == 200
        assert client.get(f"/u/{world['unsubscribe']}").status_code == 200
        assert client.head(f"/u/{world['unsubscribe']}").status_code == 200
    db.session.expire_all()
    assert db.session.get(Subscriber, world["pending"].id).status.value == "pending"
    assert db.session.get(Subscriber, world["reader"].id).status.value == "confirmed"


def test_one_click_unsubscribe_needs_no_cookie_or_csrf_and_is_idempotent(app, world):
    """RFC 8058: a mailbox provider's POST, no session, no token, 2xx and no redirect, any number of times."""
    assert app.config.get("WTF_CSRF_ENABLED", True)  # as in production: the public pages must not need it
    provider = app.test_client(use_cookies=False)
    answers = [provider.post(f"/u/{world['unsubscribe']}", data={"List-Unsubscribe": "One-Click"}) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert not any(a.headers.get("Location") for a in answers)
    db.session.expire_all()
    row = db.session.get(Subscriber, world["reader"].id)
    assert row.status.value == "unsubscribed" and row.unsubscribed_at is not None
    # One status change, one webhook event: the repeats changed nothing.
    events = db.session.execute(sa.text("SELECT type FROM webhook_events")).scalars().all()
    assert events.count("subscriber.unsubscribed") == 1


def test_a_confirm_link_works_once(client, world):
    assert client.post(f"/c/{world['confirm']}").status_code == 200
    again = client.post(f"/c/{world['confirm']}")
    assert again.status_code == 404 and "not valid" in again.text


def test_a_confirm_link_works_until_it_expires(app, client, world):
    pending = world["pending"]
    pending.confirm_sent_at = utcnow() - subscribers.CONFIRM_VALID_FOR + timedelta(minutes=1)
    db.session.commit()
    assert client.get(f"/c/{world['confirm']}").status_code == 200
    pending.confirm_sent_at = utcnow() - subscribers.CONFIRM_VALID_FOR - timedelta(minutes=1)
    db.session.commit()
    assert client.get(f"/c/{world['confirm']}").status_code == 404


def test_tokens_carry_128_bits_of_hmac_sha256_compared_in_constant_time(app, world, monkeypatch):
    secret, pending, reader, home = world["secret"], world["pending"], world["reader"], world["home"]
    for token in (world["confirm"], world["unsubscribe"]):
        assert len(base64.urlsafe_b64decode(_mac_of(token) + "==")) * 8 == 128
    full = base64.urlsafe_b64decode(_full_mac(secret, links.UNSUBSCRIBE, reader.id, home.id) + "=")
    assert base64.urlsafe_b64decode(_mac_of(world["unsubscribe"]) + "==") == full[:16]
    # The nonce is 128 random bits too: a confirm link is not derived from anything guessable.
    assert len(base64.urlsafe_b64decode(pending.confirm_nonce + "==")) * 8 == 128

    compared = []
    real = hmac.compare_digest

    def spy(a, b):
        compared.append((type(a), type(b)))
        return real(a, b)

    monkeypatch.setattr(links.hmac, "compare_digest", spy)
    assert links.check_unsubscribe(secret, world["unsubscribe"], reader.id, home.id)
    assert links.check_confirm(secret, world["confirm"], pending.id, home.id, pending.confirm_nonce)
    assert not links.check_unsubscribe(secret, world["unsubscribe"] + "é", reader.id, home.id)
    assert compared == [(bytes, bytes)] * 3


def test_ten_thousand_random_macs_are_all_refused(app, world):
    """S7: 0 forgeries accepted in 10,000 attempts, for each kind of link, with the right id and nonce."""
    pending, reader = world["pending"], world["reader"]
    accepted = 0
    for _ in range(10_000):
        mac = secrets.token_urlsafe(16)
        accepted += subscribers.for_unsubscribe(f"{reader.id}.{mac}") is not None
        accepted += subscribers.pending_confirmation(f"{pending.id}.{pending.confirm_nonce}.{mac}") is not None
    assert accepted == 0
    # And the genuine ones resolve through the same functions.
    assert subscribers.for_unsubscribe(world["unsubscribe"]).id == reader.id
    assert subscribers.pending_confirmation(world["confirm"]).id == pending.id


def test_the_forgery_table_is_broad():
    assert len(FORGERIES) >= 18
