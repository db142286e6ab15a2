"""Jinja filters for the templates."""

from __future__ import annotations

from datetime import datetime

from flask import Flask


def datetime_filter(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S UTC") if value else "—"


def register(app: Flask) -> None:
    app.jinja_env.filters["dt"] = datetime_filter
