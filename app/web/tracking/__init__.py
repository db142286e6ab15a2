from flask import Blueprint

bp = Blueprint("tracking", __name__)

from app.web.tracking import routes  # noqa: E402,F401
