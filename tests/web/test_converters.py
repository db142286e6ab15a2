"""Ids in dashboard URLs too large for a database integer are unknown ids (404), never a 500."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize(
    "path",
    ["/lists/99999999999999999999", "/campaigns/2147483648", "/emails/9223372036854775808", "/lists/2147483648/edit"],
)
def test_huge_ids_are_not_found(client, auth, make_user, path):
    make_user()
    auth.login()
    assert client.get(path).status_code == 404


def test_the_largest_database_id_still_routes(client, auth, make_user):
    make_user()
    auth.login()
    assert client.get("/lists/2147483647").status_code == 404  # routed, then not found in the account


@pytest.mark.parametrize("query", ["campaign_id=99999999999999999999", "before=9223372036854775808", "before=-1"])
def test_huge_ids_in_the_send_log_filters_are_ignored(client, auth, make_user, query):
    make_user()
    auth.login()
    assert client.get(f"/emails?{query}").status_code == 200
