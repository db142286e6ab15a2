"""Mailing lists and their subscribers."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for

from app.extensions import db
from app.services import analytics, lists, subscribers
from app.services.errors import ServiceError
from app.web.access import account_id
from app.web.charts import COLORS, Line, time_chart
from app.web.lists import bp
from app.web.lists.forms import ListForm, SubscriberForm
from app.web.params import database_id

PAGE = 50


@bp.route("/lists")
def index():
    rows = list(db.session.scalars(lists.query(account_id())))
    return render_template("lists/index.html", lists=rows, counts={m.id: lists.counts(m.id) for m in rows})


@bp.route("/lists/new", methods=["GET", "POST"])
def new():
    form = ListForm()
    if form.validate_on_submit():
        try:
            mailing_list = lists.create(
                account_id(), form.name.data, form.description.data or "", form.double_opt_in.data, form.tracking.data
            )
        except ServiceError as exc:
            flash(exc.message, "error")
        else:
            flash(f"List “{mailing_list.name}” created. Share its subscribe page to grow it.", "success")
            return redirect(url_for("lists.show", list_id=mailing_list.id))
    return render_template("lists/new.html", form=form)


@bp.route("/lists/<int:list_id>")
def show(list_id: int):
    mailing_list = lists.get(account_id(), list_id)
    status = request.args.get("status") or None
    if status not in (None, "pending", "confirmed", "unsubscribed"):
        status = None
    before = request.args.get("before", type=database_id)
    stmt = subscribers.query(account_id(), list_id, status)
    from app.models import Subscriber

    if before:
        stmt = stmt.where(Subscriber.id < before)
    rows = list(db.session.scalars(stmt.limit(PAGE + 1)))
    next_before = rows[PAGE - 1].id if len(rows) > PAGE else None
    return render_template(
        "lists/show.html",
        mailing_list=mailing_list,
        subscribers=rows[:PAGE],
        counts=lists.counts(list_id),
        status=status,
        next_before=next_before,
        form=SubscriberForm(),
        subscribe_url=url_for("public.subscribe", public_id=mailing_list.public_id, _external=True),
        growth=_growth_chart(mailing_list),
    )


def _growth_chart(mailing_list):
    growth = analytics.list_growth(mailing_list)
    lines = [Line(status.capitalize(), values, COLORS[status]) for status, values in growth.series.items()]
    chart_id = f"list-{mailing_list.id}-growth"
    return time_chart(chart_id, "Subscribers over time", growth.times, growth.step, lines, levels=True)


@bp.route("/lists/<int:list_id>/tracking", methods=["POST"])
def set_tracking(list_id: int):
    """Turn open and click tracking on or off for every campaign to this list."""
    on = request.form.get("tracking") == "on"
    mailing_list = lists.update(account_id(), list_id, tracking=on)
    flash(f"Tracking is {'on' if on else 'off'} for “{mailing_list.name}”.", "success")
    return redirect(url_for("lists.show", list_id=list_id))


@bp.route("/lists/<int:list_id>/subscribers", methods=["POST"])
def add_subscriber(list_id: int):
    lists.get(account_id(), list_id)
    form = SubscriberForm()
    if form.validate_on_submit():
        try:
            subscriber = subscribers.add(account_id(), list_id, form.email.data, form.name.data or "", form.status.data)
        except ServiceError as exc:
            flash(exc.message, "error")
        else:
            flash(f"{subscriber.email} added as {subscriber.status.value}.", "success")
    else:
        flash("Enter an e-mail address.", "error")
    return redirect(url_for("lists.show", list_id=list_id))


@bp.route("/subscribers/<int:subscriber_id>/unsubscribe", methods=["POST"])
def unsubscribe_subscriber(subscriber_id: int):
    subscriber = subscribers.update(account_id(), subscriber_id, status="unsubscribed")
    flash(f"{subscriber.email} unsubscribed.", "success")
    return redirect(url_for("lists.show", list_id=subscriber.list_id))
