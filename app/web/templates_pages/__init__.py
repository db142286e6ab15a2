"""Dashboard pages for saved e-mail templates (named so it does not clash with ``templates/``)."""

from app.web.access import dashboard_blueprint

bp = dashboard_blueprint("email_templates", __name__)

from app.web.templates_pages import routes  # noqa: E402,F401
