"""Public pages: subscribe, confirm (GET shows, POST confirms), unsubscribe (RFC 8058).

These take no session and no CSRF token: the subscribe form is embedded on other sites and the
confirm and unsubscribe links carry their own HMAC token (app/links.py). Every unknown, forged,
used or expired token, whatever its shape (even empty or holding a slash), gets the same "link
not valid" page, and a GET never changes anything (link scanners open links). Each client
address has a budget of subscribe posts and of links that are not valid (limits.py).
"""

from __future__ import annotations

from flask import render_template, request

from app.extensions import csrf
from app.services import lists, subscribers
from app.services.errors import ValidationFailed
from app.web.public import bp, limits

# The subscribe form's trap: a text field people never see (nor reach by keyboard or screen
# reader) but form-filling bots fill in. A post that fills it gets the usual page and is dropped.
# Posts without the field (forms embedded before it existed) are people's posts.
HONEYPOT = "homepage"

csrf.exempt(bp)


@bp.after_request
def no_store(response):
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


@bp.errorhandler(429)
def too_many_requests(_):
    return render_template("public/too_many.html"), 429, {"Retry-After": str(limits.retry_after())}


@bp.route("/s/<public_id>", methods=["GET", "POST"])
def subscribe(public_id: str):
    mailing_list = lists.get_public(public_id)
    if request.method == "GET":
        return render_template("public/subscribe.html", mailing_list=mailing_list, honeypot=HONEYPOT)
    email, name = request.form.get("email", ""), request.form.get("name", "")
    if request.form.get(HONEYPOT, "").strip():
        return _subscribed(mailing_list)
    try:
        subscribers.subscribe(public_id, email, name)
    except ValidationFailed as exc:
        return render_template(
            "public/subscribe.html",
            mailing_list=mailing_list,
            honeypot=HONEYPOT,
            error=exc.message,
            email=email,
            name=name,
        ), 422
    return _subscribed(mailing_list)


def _subscribed(mailing_list):
    # The same answer whatever the address's state: the form reveals nothing.
    return render_template(
        "public/subscribe_done.html", mailing_list=mailing_list, double_opt_in=mailing_list.double_opt_in
    )


def _invalid():
    return render_template("public/invalid_link.html"), 404


@bp.route("/c/", methods=["GET"], defaults={"token": ""})
@bp.route("/c/<link_token:token>", methods=["GET"])
def confirm_page(token: str):
    subscriber = subscribers.pending_confirmation(token)
    if subscriber is None:
        return _invalid()
    return render_template("public/confirm.html", subscriber=subscriber, mailing_list=subscribers.list_of(subscriber))


@bp.route("/c/", methods=["POST"], defaults={"token": ""})
@bp.route("/c/<link_token:token>", methods=["POST"])
def confirm(token: str):
    subscriber = subscribers.confirm(token)
    if subscriber is None:
        return _invalid()
    return render_template("public/confirmed.html", mailing_list=subscribers.list_of(subscriber))


@bp.route("/u/", methods=["GET"], defaults={"token": ""})
@bp.route("/u/<link_token:token>", methods=["GET"])
def unsubscribe_page(token: str):
    subscriber = subscribers.for_unsubscribe(token)
    if subscriber is None:
        return _invalid()
    return render_template(
        "public/unsubscribe.html", subscriber=subscriber, mailing_list=subscribers.list_of(subscriber)
    )


@bp.route("/u/", methods=["POST"], defaults={"token": ""})
@bp.route("/u/<link_token:token>", methods=["POST"])
def unsubscribe(token: str):
    """Both the page's button and the RFC 8058 one-click POST (``List-Unsubscribe=One-Click``)."""
    subscriber = subscribers.unsubscribe(token)
    if subscriber is None:
        return _invalid()
    if limits.one_click():
        return "", 200
    return render_template("public/unsubscribed.html", mailing_list=subscribers.list_of(subscriber))
