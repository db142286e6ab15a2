"""GET /api/v1/health really checks the database and Redis, and says which one failed."""

from __future__ import annotations

import redis
from sqlalchemy.exc import OperationalError

from app.extensions import db


def test_healthy(anon):
    response = anon.get("/api/v1/health")

    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "database": "ok", "redis": "ok"}


def test_redis_down_is_503_degraded(anon, app, monkeypatch):
    def refuse():
        raise redis.ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(app.extensions["redis"], "ping", refuse)

    response = anon.get("/api/v1/health")

    assert response.status_code == 503
    assert response.get_json() == {
        "status": "degraded",
        "database": "ok",
        "redis": "Error 111 connecting to 127.0.0.1:6379. Connection refused.",
    }


def test_database_down_is_503_degraded(anon, monkeypatch):
    def refuse(*args, **kwargs):
        raise OperationalError("SELECT 1", {}, Exception("connection refused"))

    monkeypatch.setattr(db.session, "execute", refuse)

    response = anon.get("/api/v1/health")

    assert response.status_code == 503
    body = response.get_json()
    assert (body["status"], body["redis"]) == ("degraded", "ok")
    assert "connection refused" in body["database"]
