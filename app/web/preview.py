"""Author HTML shown in the dashboard (campaign, template and outbox previews), sandboxed.

Such HTML goes into an iframe with an empty ``sandbox`` (no scripts, no same origin) whose
document starts with a Content-Security-Policy that allows no script and no fetch but images;
a preview answer served on its own carries the same policy.
"""

from __future__ import annotations

from flask import make_response
from markupsafe import Markup

# What author HTML may do in a preview: show inline styles and images, nothing else.
PREVIEW_POLICY = "default-src 'none'; img-src * data:; style-src 'unsafe-inline'"


def frame_document(html: str) -> str:
    """The iframe's document: the policy first, so it applies before any of the author's HTML."""
    meta = Markup('<meta http-equiv="Content-Security-Policy" content="{}">').format(PREVIEW_POLICY)
    return f"{meta}\n{html}"  # plain text: the template escapes it once, as the srcdoc value


def preview_response(body: str, frame: bool = False):
    """``body`` with the preview policy (plus ``sandbox`` when it is a frame's whole document)."""
    response = make_response(body)
    response.headers["Content-Security-Policy"] = ("sandbox; " if frame else "") + PREVIEW_POLICY
    response.headers["Content-Type"] = "text/html; charset=utf-8"
    return response
