"""The Templates pages: list, create, edit, delete, and a sandboxed preview with sample variables."""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import EmailTemplate
from app.services import templates
from tests.conftest import PASSWORD, csrf_token


@pytest.fixture
def signed_in(app, make_user, auth):
    user = make_user()
    auth.login()
    return user


@pytest.fixture
def receipt(signed_in):
    return templates.create(
        signed_in.account_id,
        {"name": "Receipt", "subject": "Order {{ order }}", "html": "<p>Hi {{ name }}</p><script>alert(1)</script>"},
    )


def _post(client, url: str, data: dict, page: str = "/templates/new"):
    return client.post(url, data={"csrf_token": csrf_token(client.get(page).text), **data})


def test_pages_need_login(client):
    for url in ("/templates", "/templates/new"):
        response = client.get(url)
        assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_the_empty_list_explains_templates(client, signed_in):
    page = client.get("/templates")

    assert page.status_code == 200
    assert "No templates yet" in page.text and "POST /api/v1/emails" in page.text
    assert 'aria-current="page">Templates</a>' in page.text


def test_create_a_template(client, signed_in):
    response = _post(
        client,
        "/templates/new",
        {"name": "Welcome", "subject": "Welcome {{ name }}", "html": "<p>Hello {{ name }}</p>", "text": ""},
    )

    assert response.status_code == 302
    template = db.session.scalar(sa.select(EmailTemplate))
    assert (template.account_id, template.name, template.subject) == (
        signed_in.account_id,
        "Welcome",
        "Welcome {{ name }}",
    )
    page = client.get(response.headers["Location"])
    assert "Template saved" in page.text and "<code>name</code>" in page.text
    assert "Welcome" in client.get("/templates").text


def test_a_template_error_is_shown_on_its_field(client, signed_in):
    response = _post(client, "/templates/new", {"name": "Broken", "html": "<p>{{ name </p>"})

    assert response.status_code == 200
    assert "html has a template error on line 1" in response.text
    assert db.session.scalar(sa.select(sa.func.count(EmailTemplate.id))) == 0


def test_the_preview_renders_sample_variables_in_a_sandbox(client, receipt):
    sample = json.dumps({"name": "<Ada>", "order": "1042"})

    page = client.get(f"/templates/{receipt.id}?variables={quote(sample)}")
    frame = client.get(f"/templates/{receipt.id}/preview?variables={quote(sample)}")

    assert page.status_code == 200
    assert "Order 1042" in page.text
    assert '<iframe class="preview" sandbox' in page.text
    assert frame.status_code == 200
    assert "<p>Hi &lt;Ada&gt;</p>" in frame.text
    csp = frame.headers["Content-Security-Policy"]
    assert csp.startswith("sandbox;") and "default-src 'none'" in csp  # the template's <script> cannot run


def test_the_preview_offers_a_sample_for_each_variable(client, receipt):
    page = client.get(f"/templates/{receipt.id}")

    assert "[name]" in page.text and "[order]" in page.text
    assert "Order [order]" in page.text


def test_a_missing_sample_variable_is_explained(client, receipt):
    sample = quote(json.dumps({"name": "Ada"}))

    page = client.get(f"/templates/{receipt.id}?variables={sample}")
    frame = client.get(f"/templates/{receipt.id}/preview?variables={sample}")
    broken = client.get(f"/templates/{receipt.id}?variables=%7Bnot+json")

    assert "&#39;order&#39; is undefined" in page.text and "<iframe" not in page.text
    assert "is undefined" in frame.text
    assert "not valid JSON" in broken.text


def test_edit_and_delete(client, receipt):
    edit_url = f"/templates/{receipt.id}/edit"
    form = client.get(edit_url)
    assert "Order {{ order }}" in form.text

    saved = _post(client, edit_url, {"name": "Receipt v2", "subject": "", "html": "<p>Hi</p>"}, page=edit_url)

    assert saved.status_code == 302
    db.session.expire_all()
    assert (receipt.name, receipt.subject) == ("Receipt v2", "")
    deleted = _post(client, f"/templates/{receipt.id}/delete", {}, page=f"/templates/{receipt.id}")
    assert deleted.status_code == 302
    assert "deleted" in client.get(deleted.headers["Location"]).text
    assert db.session.scalar(sa.select(sa.func.count(EmailTemplate.id))) == 0


def test_another_account_sees_none_of_them(client, auth, make_user, receipt):
    auth.logout()
    make_user("intruder@example.com")
    auth.login("intruder@example.com", PASSWORD)

    assert "Receipt" not in client.get("/templates").text
    for url in (f"/templates/{receipt.id}", f"/templates/{receipt.id}/preview", f"/templates/{receipt.id}/edit"):
        assert client.get(url).status_code == 404
