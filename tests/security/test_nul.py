"""A NUL in a dashboard or public query string or form answers 400, never a database error."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize(
    "path", ["/emails?recipient=a%00b", "/subscribers?q=%00", "/search?q=%00", "/suppressions?q=x%00"]
)
def test_a_nul_in_a_query_string_is_a_bad_request(client, auth, make_user, path):
    make_user()
    auth.login()
    assert client.get(path).status_code == 400


def test_a_nul_in_a_posted_form_is_a_bad_request(client, make_user):
    from app.services import lists

    user = make_user()
    mailing_list = lists.create(user.account_id, "News")
    answer = client.post(f"/s/{mailing_list.public_id}", data={"email": "a\x00@example.com", "name": "x"})
    assert answer.status_code == 400


def test_the_api_keeps_its_own_answer(api):
    assert api.get("/api/v1/emails?recipient=%00").status_code == 422
