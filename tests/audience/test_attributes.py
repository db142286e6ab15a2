"""Custom subscriber attributes, set through the API and the person's page, and used by campaigns.

Every path checks them with ``personalise.attributes``: bad names, lists or objects as values,
too many names or too many bytes answer a clear error and change nothing (the name given in the
same call included). CSV imports are in tests/imports/test_attributes.py.
"""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import Role, Subscriber
from app.services import campaigns, lists, subscribers
from tests.api.conftest import DocumentedClient
from tests.audience.conftest import ANN, post
from tests.factories import make_campaign

BAD = [
    ({"": "x"}, "attributes names must be 1 to 64 characters"),
    ({"x" * 65: "x"}, "attributes names must be 1 to 64 characters"),
    ({"pl\u0007an": "x"}, "attributes names must not contain control characters"),
    ({"plan": {"tier": "pro"}}, "attributes.plan must be a string, number, boolean or null, not a list or object"),
    ({"plan": ["pro"]}, "attributes.plan must be a string, number, boolean or null, not a list or object"),
    ({"plan": "pro\x00"}, "attributes.plan must not contain control characters"),
    ({f"a{i}": i for i in range(51)}, "attributes has more than 50 names"),
    ({"a": "x" * 5000, "b": "y" * 5000}, "attributes is 10018 bytes as JSON; the limit is 8192"),
]


@pytest.fixture
def api(app, client, admin):
    from app.services import accounts

    _, token = accounts.issue_token(admin, "attributes")
    return DocumentedClient(app, client, token)


@pytest.fixture
def news(admin):
    return lists.create(admin.account_id, "News", "", False)


def _stored(subscriber_id: int) -> tuple[str, dict]:
    db.session.expire_all()
    subscriber = db.session.get(Subscriber, subscriber_id)
    return subscriber.name, subscriber.attributes


# The API


def test_the_api_sets_and_answers_attributes(api, news):
    given = {"plan": "pro", "seats": 5, "ratio": 0.5, "vip": True, "referrer": None, "city": "Zürich"}

    created = api.post(f"/api/v1/lists/{news.id}/subscribers", json={"email": ANN, "attributes": given})

    assert created.status_code == 201
    body = created.get_json()
    assert body["attributes"] == given
    assert _stored(body["id"])[1] == given
    assert api.get(f"/api/v1/subscribers/{body['id']}").get_json()["attributes"] == given
    assert api.get(f"/api/v1/lists/{news.id}/subscribers").get_json()["data"][0]["attributes"] == given
    plain = api.post(f"/api/v1/lists/{news.id}/subscribers", json={"email": "bob@example.com"}).get_json()
    assert plain["attributes"] == {}


def test_a_patch_replaces_the_attributes_or_leaves_them(api, news, admin):
    subscriber = subscribers.add(admin.account_id, news.id, ANN, "Ann", attributes={"plan": "free", "seats": 1})

    renamed = api.patch(f"/api/v1/subscribers/{subscriber.id}", json={"name": "Ann Person"})
    replaced = api.patch(f"/api/v1/subscribers/{subscriber.id}", json={"attributes": {"plan": "pro"}})

    assert renamed.get_json()["attributes"] == {"plan": "free", "seats": 1}  # not part of the change
    assert replaced.status_code == 200 and replaced.get_json()["attributes"] == {"plan": "pro"}
    cleared = api.patch(f"/api/v1/subscribers/{subscriber.id}", json={"attributes": {}})
    assert cleared.get_json()["attributes"] == {}
    assert _stored(subscriber.id) == ("Ann Person", {})


@pytest.mark.parametrize(("attributes", "message"), BAD, ids=range(len(BAD)))
def test_bad_attributes_are_refused_by_the_api_and_nothing_is_written(api, news, admin, attributes, message):
    subscriber = subscribers.add(admin.account_id, news.id, ANN, "Ann", attributes={"plan": "free"})

    created = api.post(
        f"/api/v1/lists/{news.id}/subscribers", json={"email": "new@example.com", "attributes": attributes}
    )
    changed = api.patch(f"/api/v1/subscribers/{subscriber.id}", json={"name": "Changed", "attributes": attributes})

    for response in (created, changed):
        assert response.status_code == 422
        error = response.get_json()["error"]
        assert error["message"] == message
        assert error["field"].startswith("attributes")
    assert db.session.scalar(sa.select(sa.func.count(Subscriber.id))) == 1
    assert _stored(subscriber.id) == ("Ann", {"plan": "free"})


def test_attributes_that_are_not_an_object_are_refused_by_the_api(api, news):
    for attributes in ([["plan", "pro"]], "plan=pro", 5):
        response = api.post(f"/api/v1/lists/{news.id}/subscribers", json={"email": ANN, "attributes": attributes})
        assert response.status_code == 422, attributes
        assert response.get_json()["error"]["field"] == "attributes"
    assert db.session.scalar(sa.select(sa.func.count(Subscriber.id))) == 0


def test_the_attributes_are_documented(client):
    schemas = client.get("/api/v1/openapi.json").get_json()["components"]["schemas"]

    create = schemas["SubscriberCreate"]["properties"]["attributes"]
    assert create["type"] == "object" and create["maxProperties"] == 50
    assert create["additionalProperties"] == {"type": ["string", "number", "boolean", "null"]}
    assert "subscriber.attributes" in create["description"]
    assert "replaces" in schemas["SubscriberUpdate"]["properties"]["attributes"]["description"]
    assert "attributes" in schemas["SubscriberOut"]["required"]


def test_a_campaign_reads_what_the_api_set(api, news, admin, run_jobs, smtp_server):
    api.post(f"/api/v1/lists/{news.id}/subscribers", json={"email": ANN, "attributes": {"plan": "Pro", "seats": 5}})
    api.post(f"/api/v1/lists/{news.id}/subscribers", json={"email": "bob@example.com"})
    campaign = make_campaign(
        admin.account_id,
        news.id,
        body="Your plan: {{ subscriber.attributes.plan | default('free') }}, {{ subscriber.attributes.seats }} seats.",
    )

    campaigns.send(admin.account_id, campaign.id)
    run_jobs()

    assert "Your plan: Pro, 5 seats." in smtp_server.to(ANN)[0].message.get_body(("plain",)).get_content()
    assert "Your plan: free,  seats." in smtp_server.to("bob@example.com")[0].message.get_body(("plain",)).get_content()


# The person's page


def _page(client, subscriber_id: int) -> str:
    return client.get(f"/subscribers/{subscriber_id}").text


def test_a_marketer_edits_the_attributes_as_json(admin, colleague, signed_in, news):
    colleague("marketer@example.com", Role.MARKETER)
    subscriber = subscribers.add(admin.account_id, news.id, ANN, "Ann", attributes={"plan": "free"})
    client = signed_in("marketer@example.com")
    assert "&#34;plan&#34;: &#34;free&#34;" in _page(client, subscriber.id)  # the textarea holds the JSON

    typed = '{\n  "plan": "pro",\n  "seats": 3,\n  "vip": true\n}'
    response = post(client, f"/subscribers/{subscriber.id}/attributes", {"attributes": typed})

    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/subscribers/{subscriber.id}#attributes")
    assert _stored(subscriber.id)[1] == {"plan": "pro", "seats": 3, "vip": True}
    shown = client.get(response.headers["Location"]).text
    assert "Attributes of ann@example.com on “News” saved." in shown
    assert json.dumps({"plan": "pro", "seats": 3, "vip": True}, indent=2).replace('"', "&#34;") in shown

    emptied = post(client, f"/subscribers/{subscriber.id}/attributes", {"attributes": "  \n"})
    assert emptied.status_code == 302
    assert _stored(subscriber.id)[1] == {}


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ('{"plan": "pro",}', "The attributes are not valid JSON: Expecting property name enclosed in double quotes"),
        ('{"plan": "pro"\n "seats": 3}', "The attributes are not valid JSON: Expecting &#39;,&#39; delimiter (line 2"),
        ('["plan", "pro"]', "Attributes must be a JSON object of names to values."),
        (
            '{"plan": {"tier": "pro"}}',
            "Attributes.plan must be a string, number, boolean or null, not a list or object.",
        ),
        (json.dumps({"x" * 65: 1}), "Attributes names must be 1 to 64 characters."),
        (json.dumps({f"a{i}": i for i in range(51)}), "Attributes has more than 50 names."),
        (json.dumps({"a": "x" * 9000}), "Attributes is 9009 bytes as JSON; the limit is 8192."),
        ("[" * 5000 + "]" * 5000, "The attributes are nested too deeply to be a flat JSON object."),
        ("x" * 40_000, "The attributes are longer than 32,768 characters."),
    ],
    ids=["comma", "delimiter", "list", "nested", "long-name", "too-many", "too-large", "deep", "huge"],
)
def test_bad_attributes_on_the_page_show_the_error_and_keep_what_was_typed(admin, signed_in, news, typed, message):
    subscriber = subscribers.add(admin.account_id, news.id, ANN, "Ann", attributes={"plan": "free"})
    client = signed_in("admin@example.com")

    response = post(client, f"/subscribers/{subscriber.id}/attributes", {"attributes": typed})

    assert response.status_code == 422
    assert message in response.text
    assert 'role="alert"' in response.text and 'aria-invalid="true"' in response.text
    if len(typed) < 1000:
        assert typed.replace('"', "&#34;").replace("'", "&#39;") in response.text  # kept, to be corrected
    assert _stored(subscriber.id)[1] == {"plan": "free"}


def test_support_sees_the_attributes_but_cannot_change_them(admin, colleague, signed_in, news):
    colleague("support@example.com", Role.SUPPORT)
    subscriber = subscribers.add(admin.account_id, news.id, ANN, "Ann", attributes={"plan": "free", "seats": 2})
    client = signed_in("support@example.com")

    page = _page(client, subscriber.id)
    refused = post(client, f"/subscribers/{subscriber.id}/attributes", {"attributes": '{"plan": "pro"}'})

    assert "<dt>plan</dt><dd>free</dd>" in page and "<dt>seats</dt><dd>2</dd>" in page
    assert 'name="attributes"' not in page
    assert refused.status_code == 403
    assert _stored(subscriber.id)[1] == {"plan": "free", "seats": 2}


def test_another_accounts_subscriber_is_not_found(admin, signed_in, make_user, news):
    stranger = make_user("stranger@example.com")
    theirs = lists.create(stranger.account_id, "Theirs")
    subscriber = subscribers.add(stranger.account_id, theirs.id, ANN, attributes={"plan": "free"})
    client = signed_in("admin@example.com")

    response = post(client, f"/subscribers/{subscriber.id}/attributes", {"attributes": '{"plan": "pro"}'})

    assert response.status_code == 404
    assert _stored(subscriber.id)[1] == {"plan": "free"}
