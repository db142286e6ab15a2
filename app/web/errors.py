"""Error pages for the dashboard (the API answers JSON itself)."""

from __future__ import annotations

from flask import Flask, render_template, request

from app.services.errors import ServiceError


def register(app: Flask) -> None:
    def page(code: int, title: str, message: str):
        if request.path.startswith("/api/"):
            return {"error": {"code": title.lower().replace(" ", "_"), "message": message}}, code
        return render_template("errors/error.html", code=code, title=title, message=message), code

    @app.errorhandler(404)
    def not_found(_):
        return page(404, "Not found", "There is nothing here, or it belongs to someone else.")

    @app.errorhandler(405)
    def not_allowed(_):
        return page(405, "Method not allowed", "This address does not take that request.")

    @app.errorhandler(413)
    def too_large(_):
        return page(413, "Too large", "The request is larger than this server accepts.")

    @app.errorhandler(ServiceError)
    def service_error(exc: ServiceError):
        return page(exc.status, exc.code.replace("_", " ").capitalize(), exc.message)
