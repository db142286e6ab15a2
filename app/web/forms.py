"""Saving a dashboard form through a service: one way to show a service's refusal."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from flask import flash

from app.services.errors import ServiceError


def save_form(form, save: Callable, field_for: Mapping[str, str] | None = None):
    """Validate ``form`` and call ``save()``; its result, or None when the form must be shown again.

    A service error goes under the form field it names (``field_for`` maps a service's field
    name to the form's, where they differ); an error naming no field of the form is flashed.
    """
    if not form.validate_on_submit():
        return None
    try:
        return save()
    except ServiceError as exc:
        name = (field_for or {}).get(exc.field, exc.field) if exc.field else None
        field = getattr(form, name, None) if name else None
        if field is not None and hasattr(field, "errors"):
            field.errors = [*field.errors, exc.message]
        else:
            flash(exc.message, "error")
        return None
