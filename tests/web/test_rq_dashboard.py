"""rq-dashboard at /admin/rq: the library's pages on our Redis, for instance operators only (by default
the first account's admins; tests/security/test_operator.py), actions CSRF-checked."""

from __future__ import annotations

import re

import pytest
from rq import Queue
from rq.job import Job, JobStatus

from app.models import Role
from tests.conftest import PASSWORD, csrf_token

PREFIX = "/admin/rq"


@pytest.fixture
def queue(app, redis_conn):
    return Queue(app.config["RQ_QUEUE"], connection=redis_conn)


@pytest.fixture
def failed_job(queue, run_jobs) -> Job:
    job = queue.enqueue("math.sqrt", -1)  # math domain error
    run_jobs()
    assert job.get_status(refresh=True) == JobStatus.FAILED
    return job


def login_as(auth, make_user, role: Role) -> None:
    make_user(f"{role.value}@example.com", role=role)
    auth.login(f"{role.value}@example.com", PASSWORD)


def every_route(app, job_id: str, queue_name: str) -> list[tuple[str, str]]:
    """(method, url) for every route of the mount, placeholders filled in."""
    values = {
        "instance_number": "0",
        "job_id": job_id,
        "queue_name": queue_name,
        "registry_name": "failed",
        "per_page": "8",
        "order": "asc",
        "page": "1",
        "filename": "js/jquery-3.5.1.min.js",
    }
    routes = []
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith(f"{PREFIX}/"):
            url = re.sub(r"<(?:[^:>]+:)?([^>]+)>", lambda m: values[m.group(1)], rule.rule)
            routes += [(method, url) for method in sorted(rule.methods - {"HEAD", "OPTIONS"})]
    return routes


def test_the_census_finds_the_library_routes(app):
    urls = {url for _, url in every_route(app, "j", "q")}
    assert f"{PREFIX}/" in urls and f"{PREFIX}/0/data/queues.json" in urls and f"{PREFIX}/job/j/requeue" in urls
    assert len(urls) > 15


def visit(client, method: str, url: str, **kwargs):
    """One request; a GET follows routing's 308 from ``/0/`` to the canonical ``/`` (no content)."""
    response = client.open(url, method=method, **kwargs)
    if response.status_code == 308:
        assert response.headers["Location"].endswith(f"{PREFIX}/"), url
        response = client.open(response.headers["Location"], method=method, **kwargs)
    return response


def test_anonymous_visitors_are_sent_to_the_login_page(app, client, failed_job, queue):
    for method, url in every_route(app, failed_job.id, queue.name):
        response = visit(client, method, url)
        if method == "POST":  # refused before any view runs: no session, so no CSRF token
            assert response.status_code in (302, 400), url
        else:
            assert response.status_code == 302 and "/login" in response.headers["Location"], url
        assert "RQ dashboard" not in response.text
    assert failed_job.get_status(refresh=True) == JobStatus.FAILED


@pytest.mark.parametrize("role", [Role.MARKETER, Role.SUPPORT])
def test_users_who_are_not_admins_get_404_on_every_route(app, client, auth, make_user, failed_job, queue, role):
    login_as(auth, make_user, role)
    token = csrf_token(client.get("/lists/new").text)
    for method, url in every_route(app, failed_job.id, queue.name):
        response = visit(client, method, url, headers={"X-CSRFToken": token}, data={"csrf_token": token})
        assert response.status_code == 404, (method, url)
        assert "RQ dashboard" not in response.text
        assert "_csrf_token" not in response.headers.get("Set-Cookie", "")
    assert failed_job.get_status(refresh=True) == JobStatus.FAILED
    assert "Job queues" not in client.get("/status").text


def test_another_tenants_admin_gets_404_on_every_route(app, client, auth, make_user, failed_job, queue):
    """Its pages show every account's jobs: being an admin of one's own account is not enough."""
    make_user("operator@example.com")  # account 1: the operator by default
    tenant = make_user("tenant@example.com")
    assert tenant.account_id != 1
    auth.login("tenant@example.com", PASSWORD)
    token = csrf_token(client.get("/lists/new").text)
    for method, url in every_route(app, failed_job.id, queue.name):
        response = visit(client, method, url, headers={"X-CSRFToken": token}, data={"csrf_token": token})
        assert response.status_code == 404, (method, url)
        assert "RQ dashboard" not in response.text
    assert failed_job.get_status(refresh=True) == JobStatus.FAILED
    assert "Job queues" not in client.get("/status").text


def test_admins_see_the_dashboard_of_our_queues_and_workers(app, client, auth, make_user, failed_job, queue):
    login_as(auth, make_user, Role.ADMIN)
    queue.enqueue("math.sqrt", 4)
    status_page = client.get("/status").text
    assert f'href="{PREFIX}/"' in status_page and "Job queues" in status_page

    page = client.get(f"{PREFIX}/")
    assert page.status_code == 200 and "RQ dashboard" in page.text
    for url in (f"{PREFIX}/0/view/workers", f"{PREFIX}/0/view/jobs", f"{PREFIX}/0/view/job/{failed_job.id}"):
        assert client.get(url).status_code == 200, url
    assert client.get(f"{PREFIX}/static/js/jquery-3.5.1.min.js").status_code == 200

    [listed] = client.get(f"{PREFIX}/0/data/queues.json").json["queues"]
    assert (listed["name"], listed["count"], listed["failed_job_registry_count"]) == (queue.name, 1, 1)
    jobs = client.get(f"{PREFIX}/0/data/jobs/{queue.name}/failed/8/asc/1.json").json["jobs"]
    assert [j["id"] for j in jobs] == [failed_job.id]
    info = client.get(f"{PREFIX}/0/data/job/{failed_job.id}.json").json
    assert info["status"] == "failed" and "math domain error" in info["exc_info"]
    assert client.get(f"{PREFIX}/0/data/workers.json").json == {"workers": []}


def test_admin_actions_work_with_the_csrf_cookie_and_fail_without_it(app, client, auth, make_user, failed_job, queue):
    login_as(auth, make_user, Role.ADMIN)
    client.get(f"{PREFIX}/")
    cookie = client.get_cookie("_csrf_token", path=PREFIX)
    assert cookie is not None and not cookie.http_only and cookie.same_site == "Strict"

    refused = client.post(f"{PREFIX}/job/{failed_job.id}/requeue")
    assert refused.status_code == 400  # CSRF token missing
    assert failed_job.get_status(refresh=True) == JobStatus.FAILED
    forged = client.post(f"{PREFIX}/job/{failed_job.id}/requeue", headers={"X-CSRFToken": "forged"})
    assert forged.status_code == 400 and failed_job.get_status(refresh=True) == JobStatus.FAILED

    # What the library's JavaScript does: the cookie's value in X-CSRFToken.
    requeued = client.post(f"{PREFIX}/job/{failed_job.id}/requeue", headers={"X-CSRFToken": cookie.value})
    assert requeued.status_code == 200 and requeued.json == {"status": "OK"}
    assert failed_job.get_status(refresh=True) == JobStatus.QUEUED and queue.job_ids == [failed_job.id]

    deleted = client.post(f"{PREFIX}/job/{failed_job.id}/delete", headers={"X-CSRFToken": cookie.value})
    assert deleted.json == {"status": "OK"} and queue.count == 0


def test_requeue_all_refuses_get(app, client, auth, make_user, failed_job, queue):
    """The library answers GET there too, which a link on another site could make a browser send."""
    login_as(auth, make_user, Role.ADMIN)
    assert client.get(f"{PREFIX}/requeue/{queue.name}").status_code == 405
    assert failed_job.get_status(refresh=True) == JobStatus.FAILED
    client.get(f"{PREFIX}/")
    token = client.get_cookie("_csrf_token", path=PREFIX).value
    response = client.post(f"{PREFIX}/requeue/{queue.name}", headers={"X-CSRFToken": token})
    assert response.json == {"status": "OK", "count": 1}
    assert failed_job.get_status(refresh=True) == JobStatus.QUEUED
