from flask import Blueprint
from werkzeug.routing import PathConverter

from app.web.public import limits

bp = Blueprint("public", __name__)
limits.register(bp)


class LinkToken(PathConverter):
    """A link's token as it arrives, however mangled: slashes and line breaks included, so that
    every one reaches the view and gets its "link not valid" page rather than the app's 404."""

    regex = "(?s:.+)"
    part_isolating = False  # Werkzeug would guess True: the pattern holds no "/"


@bp.record_once
def add_converter(state) -> None:
    state.app.url_map.converters["link_token"] = LinkToken


from app.web.public import routes  # noqa: E402,F401
