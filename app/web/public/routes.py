"""Public pages: subscribe, confirm (GET shows, POST confirms), unsubscribe (RFC 8058).

These take no session and no CSRF token: the subscribe form is embedded on other sites and the
confirm and unsubscribe links carry their own HMAC token. Every unknown, forged or used token
gets the same "link not valid" page.
"""

from __future__ import annotations

from flask import render_template, request

from app.extensions import csrf
from app.services import lists, subscribers
from app.services.errors import ValidationFailed
from app.web.public import bp

csrf.exempt(bp)


@bp.after_request
def no_store(response):
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


@bp.route("/s/<public_id>", methods=["GET", "POST"])
def subscribe(public_id: str):
    mailing_list = lists.get_public(public_id)
    if request.method == "GET":
        return render_template("public/subscribe.html", mailing_list=mailing_list)
    email, name = request.form.get("email", ""), request.form.get("name", "")
    try:
        subscribers.subscribe(public_id, email, name)
    except ValidationFailed as exc:
        return render_template(
            "public/subscribe.html", mailing_list=mailing_list, error=exc.message, email=email, name=name
        ), 422
    # The same answer whatever the address's state: the form reveals nothing.
    return render_template(
        "public/subscribe_done.html", mailing_list=mailing_list, double_opt_in=mailing_list.double_opt_in
    )


def _invalid():
    return render_template("public/invalid_link.html"), 404


@bp.route("/c/<token>", methods=["GET"])
def confirm_page(token: str):
    subscriber = subscribers.pending_confirmation(token)
    if subscriber is None:
        return _invalid()
    return render_template("public/confirm.html", subscriber=subscriber, mailing_list=subscribers.list_of(subscriber))


@bp.route("/c/<token>", methods=["POST"])
def confirm(token: str):
    subscriber = subscribers.confirm(token)
    if subscriber is None:
        return _invalid()
    return render_template("public/confirmed.html", mailing_list=subscribers.list_of(subscriber))


@bp.route("/u/<token>", methods=["GET"])
def unsubscribe_page(token: str):
    subscriber = subscribers.for_unsubscribe(token)
    if subscriber is None:
        return _invalid()
    return render_template(
        "public/unsubscribe.html", subscriber=subscriber, mailing_list=subscribers.list_of(subscriber)
    )


@bp.route("/u/<token>", methods=["POST"])
def unsubscribe(token: str):
    """Both the page's button and the RFC 8058 one-click POST (``List-Unsubscribe=One-Click``)."""
    subscriber = subscribers.unsubscribe(token)
    if subscriber is None:
        return _invalid()
    if request.form.get("List-Unsubscribe") == "One-Click":
        return "", 200
    return render_template("public/unsubscribed.html", mailing_list=subscribers.list_of(subscriber))
