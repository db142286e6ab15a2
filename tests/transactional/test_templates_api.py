"""The templates API: CRUD scoped to the account, Jinja checked on save, and templates used by sends."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import EmailTemplate
from app.services import templates
from tests.transactional.conftest import payload

RECEIPT = {
    "name": "Receipt",
    "subject": "Receipt for order {{ order }}",
    "html": "<p>Hi {{ customer.name }},</p>{% for item in items %}<p>{{ item }}</p>{% endfor %}",
}


def test_create_read_list_update_delete(api):
    created = api.post("/api/v1/templates", json=RECEIPT)

    assert created.status_code == 201, created.get_json()
    template = created.get_json()
    assert template["variables"] == ["customer", "items", "order"]
    assert (template["name"], template["text"]) == ("Receipt", "")
    assert api.get(f"/api/v1/templates/{template['id']}").get_json() == template
    assert [t["id"] for t in api.get("/api/v1/templates").get_json()["data"]] == [template["id"]]

    patched = api.patch(f"/api/v1/templates/{template['id']}", json={"name": "Receipt v2", "text": "Order {{ order }}"})

    assert patched.status_code == 200
    assert (patched.get_json()["name"], patched.get_json()["subject"]) == ("Receipt v2", RECEIPT["subject"])
    assert api.delete(f"/api/v1/templates/{template['id']}").status_code == 204
    assert api.get(f"/api/v1/templates/{template['id']}").status_code == 404


def test_pages_of_templates(api, owner):
    for i in range(3):
        templates.create(owner.account_id, {"name": f"T{i}", "text": "x"})

    first = api.get("/api/v1/templates?limit=2").get_json()
    second = api.get(f"/api/v1/templates?limit=2&cursor={first['next_cursor']}").get_json()

    assert [t["name"] for t in first["data"] + second["data"]] == ["T2", "T1", "T0"]
    assert second["next_cursor"] is None


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"subject": "x", "html": "<p>x</p>"}, "name", "Field required"),
        ({"name": "  ", "html": "<p>x</p>"}, "name", "must not be empty"),
        ({"name": "Empty"}, "html", "give html or text"),
        ({"name": "Broken", "html": "<p>{{ name </p>"}, "html", "line 1"),
        ({"name": "Broken", "text": "a\nb\nc {{ x ) }}"}, "text", "line 3"),
        ({"name": "Header", "subject": "Hi\r\nBcc: victim@example.org", "text": "x"}, "subject", "line breaks"),
        ({"name": "Typed", "text": 5}, "text", "string"),
        ({"name": "Extra", "text": "x", "body": "x"}, "body", "unknown field"),
    ],
)
def test_bad_templates_are_422(api, body, field, words):
    response = api.post("/api/v1/templates", json=body)

    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["field"] == field and words in error["message"]
    assert db.session.scalar(sa.select(sa.func.count(EmailTemplate.id))) == 0


def test_names_are_unique_per_account(api, anon, other):
    assert api.post("/api/v1/templates", json=RECEIPT).status_code == 201

    again = api.post("/api/v1/templates", json=RECEIPT)
    theirs = anon.post("/api/v1/templates", json=RECEIPT, headers={"Authorization": f"Bearer {other['token']}"})

    assert again.status_code == 409 and again.get_json()["error"]["field"] == "name"
    assert theirs.status_code == 201


def test_every_templates_route_needs_a_token(anon, owner):
    template = templates.create(owner.account_id, {"name": "Mine", "text": "x"})
    calls = [
        ("get", "/api/v1/templates"),
        ("post", "/api/v1/templates"),
        ("get", f"/api/v1/templates/{template.id}"),
        ("patch", f"/api/v1/templates/{template.id}"),
        ("delete", f"/api/v1/templates/{template.id}"),
        ("post", "/api/v1/emails"),
    ]
    for method, path in calls:
        response = getattr(anon, method)(path, json={"name": "x", "text": "x"})
        assert response.status_code == 401, (method, path)
    assert db.session.get(EmailTemplate, template.id).name == "Mine"


def test_another_accounts_template_is_404_and_cannot_be_sent(api, other, run_jobs, smtp_server):
    theirs = templates.create(other["user"].account_id, {"name": "Theirs", "subject": "Secret", "text": "secret"})

    assert api.get(f"/api/v1/templates/{theirs.id}").status_code == 404
    sent = api.post("/api/v1/emails", json=payload(subject=None, html=None, text=None, template_id=theirs.id))
    assert sent.status_code == 422 and sent.get_json()["error"]["field"] == "template_id"
    run_jobs()
    assert smtp_server.to("ada@example.com") == []


def test_an_email_keeps_its_content_when_its_template_changes(api, owner, welcome, run_jobs, smtp_server):
    body = payload(subject=None, html=None, text=None, template_id=welcome.id, variables={"name": "Ada", "code": "7"})
    assert api.post("/api/v1/emails", json=body).status_code == 202

    api.patch(f"/api/v1/templates/{welcome.id}", json={"html": "<p>Changed</p>"})
    api.delete(f"/api/v1/templates/{welcome.id}")
    run_jobs()

    [received] = smtp_server.received
    assert "your code is <b>7</b>" in received.message.get_body(("html",)).get_content()
