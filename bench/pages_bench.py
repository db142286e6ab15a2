"""The send log and campaign pages with 1,000,000 ``sent_emails`` rows: p50/p95/p99 per page.

    .venv/bin/python bench/pages_bench.py [--rows 1000000] [--requests 200] [--explain]
                                          [--only LABEL] [--keep]

Builds the rows set-based (one ``INSERT ... SELECT`` over a generated series: a recursive CTE
on SQLite, ``generate_series`` on PostgreSQL), spread over 30 days and interleaved as they
would be in a real instance: the bench account's ten finished campaigns and one campaign still
sending (40% of the rows, 60% done), its transactional mail (10%), and another account's mail
(5%). One row in ten that left the queue has a delivery attempt and a timeline event (two
attempts when deferred). Then it signs in through the Flask test client and times each page
``--requests`` times after five warm-up requests, and prints p50/p95/p99 and PASS/FAIL
against 50 ms at the 95th percentile. ``/metrics`` (one scrape of the instance-wide counts) is
timed too, for information. ``--explain`` prints each page's query plans.

SQLite by default, without ANALYZE (nothing runs it in production either); BENCH_DATABASE_URL
points it at PostgreSQL (e.g. postgresql+psycopg://postgres@127.0.0.1/pr_pages), where the
load ends with VACUUM ANALYZE, as autovacuum would do after a million inserts.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import time
from datetime import timedelta

import sqlalchemy as sa
from common import bench_list, make_instance
from flask.globals import app_ctx

TARGET_MS = 50.0
DAYS = 30
FINISHED_CAMPAIGNS = 10
PASSWORD = "bench password 1"

# Every statement below is the same on both databases but for these pieces.
SERIES = {
    "sqlite": "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :rows) ",
    "postgresql": "WITH n(i) AS (SELECT generate_series(1, :rows)) ",
}


def at(seconds: str, dialect: str) -> str:
    """SQL for ``:base`` plus ``seconds`` (an integer SQL expression)."""
    if dialect == "sqlite":
        return f"strftime('%Y-%m-%d %H:%M:%f', :base, '+' || ({seconds}) || ' seconds')"
    return f"(CAST(:base AS timestamp) + ({seconds}) * INTERVAL '1 second')"


def build(rows: int) -> dict:
    """The schema, two accounts, the campaigns, ``rows`` sent_emails with attempts and events."""
    from app.extensions import db
    from app.models import Campaign, CampaignStatus
    from app.models.base import utcnow
    from app.services import accounts, campaigns, counters

    # Rows i = 1..rows, oldest first. One in 20 is the other account's, two in 20 are this
    # account's transactional mail; the rest go to the campaigns in order: each finished one
    # takes a stretch of the first 60% of the series, the sending one the last 40%.
    sizes = [rows * 45 // 100 // FINISHED_CAMPAIGNS] * FINISHED_CAMPAIGNS + [rows * 40 // 100]
    ends = [round(rows * sum(sizes[: k + 1]) / sum(sizes)) + 1 for k in range(len(sizes))]
    ends[-1] = rows + 1
    starts = [1, *ends[:-1]]
    app, user, mailing_list = bench_list(1)  # r0@example.com; the series adds r1, r2, ...
    dialect = db.engine.dialect.name
    other = accounts.create_user("other@example.com", PASSWORD)
    now = utcnow()
    base = now - timedelta(days=DAYS)
    started = time.perf_counter()
    # A subscriber per position in the longest stretch: every campaign row's subscriber is real.
    db.session.execute(
        sa.text(
            SERIES[dialect]
            + "INSERT INTO subscribers (account_id, list_id, email, name, status, created_at, confirmed_at) "
            "SELECT :account, :list, 'r' || i || '@example.com', '', 'confirmed', :base, :base FROM n"
        ),
        {
            "rows": max(e - b for b, e in zip(starts, ends, strict=True)),
            "account": user.account_id,
            "list": mailing_list.id,
            "base": _db_time(base),
        },
    )
    first_subscriber = db.session.scalar(sa.text("SELECT id FROM subscribers WHERE email = 'r1@example.com'"))

    def campaign(subject: str, status: CampaignStatus, **values) -> int:
        made = campaigns.create(
            user.account_id,
            {"list_id": mailing_list.id, "subject": subject, "from_email": "news@example.com", "body": "Hello"},
        )
        db.session.execute(sa.update(Campaign).where(Campaign.id == made.id).values(status=status, **values))
        return made.id

    finished = [
        campaign(f"Finished {k + 1}", CampaignStatus.FINISHED, started_at=now, fanned_out_at=now, finished_at=now)
        for k in range(FINISHED_CAMPAIGNS)
    ]
    sending = campaign("Sending now", CampaignStatus.SENDING, started_at=now, fanned_out_at=now)
    db.session.commit()

    bounds = list(zip([*finished, sending], starts, ends, strict=True))
    campaign_of = "CASE " + " ".join(f"WHEN i < {end} THEN {cid}" for cid, _, end in bounds) + " END"
    first_of = "CASE " + " ".join(f"WHEN i < {end} THEN {begin}" for _, begin, end in bounds) + " END"
    sending_begin = bounds[-1][1]
    mail = "(i % 20 = 0 OR i % 20 = 1 OR i % 20 = 11)"
    status = f"""CASE
        WHEN i >= {sending_begin} AND NOT {mail} AND i >= {sending_begin} + ({rows} - {sending_begin}) * 65 / 100
            THEN 'queued'
        WHEN i >= {sending_begin} AND NOT {mail} AND i >= {sending_begin} + ({rows} - {sending_begin}) * 60 / 100
            THEN CASE WHEN i % 10 = 0 THEN 'sending' ELSE 'deferred' END
        WHEN i % 200 IN (2, 3) THEN 'bounced'
        WHEN i % 200 = 4 THEN 'failed'
        WHEN i % 200 = 5 AND NOT {mail} THEN 'suppressed'
        WHEN i % 200 = 6 AND NOT {mail} THEN 'cancelled'
        ELSE 'delivered' END"""
    created = at(f"i * {DAYS * 86400 / rows!r}", dialect)
    db.session.execute(
        sa.text(
            SERIES[dialect]
            + f"""INSERT INTO sent_emails (account_id, campaign_id, subscriber_id, recipient, kind, status, reason,
                                     message_id, attempt_count, created_at, updated_at, sent_at)
            SELECT CASE WHEN i % 20 = 0 THEN :other ELSE :account END,
                   CASE WHEN {mail} THEN NULL ELSE {campaign_of} END,
                   CASE WHEN {mail} THEN NULL ELSE :first_subscriber + i - ({first_of}) END,
                   CASE WHEN {mail} THEN 't' || (i % 5000) || '@example.org'
                        ELSE 'r' || (1 + i - ({first_of})) || '@example.com' END,
                   CASE WHEN {mail} THEN 'transactional' ELSE 'campaign' END,
                   status,
                   CASE WHEN status IN ('bounced', 'failed') THEN '550 5.1.1 user unknown' END,
                   '<' || i || '.bench@example.com>',
                   CASE WHEN status IN ('queued', 'suppressed', 'cancelled') THEN 0
                        WHEN status = 'deferred' THEN 2 ELSE 1 END,
                   created, created,
                   CASE WHEN status IN ('delivered', 'bounced') THEN created END
            FROM (SELECT i, {status} AS status, {created} AS created FROM n) AS r"""
        ),
        {
            "rows": rows,
            "account": user.account_id,
            "other": other.account_id,
            "first_subscriber": first_subscriber,
            "base": _db_time(base),
        },
    )
    # One row in ten that left the queue: its attempts (two when deferred) and a timeline event.
    started_at = at("1", dialect).replace(":base", "e.created_at")
    retried_at = at("600", dialect).replace(":base", "e.created_at")
    outcome = "CASE WHEN e.status IN ('delivered', 'bounced', 'failed', 'deferred') THEN e.status ELSE 'delivered' END"
    code = "CASE e.status WHEN 'deferred' THEN 451 WHEN 'bounced' THEN 550 WHEN 'failed' THEN 550 ELSE 250 END"
    sample = "e.id % 10 = 0 AND e.status IN ('delivered', 'bounced', 'failed', 'deferred')"
    for number, when in ((1, started_at), (2, retried_at)):
        db.session.execute(
            sa.text(
                f"""INSERT INTO delivery_attempts (email_id, number, started_at, provider, host, smtp_code,
                                                  enhanced_code, response, outcome, duration_ms)
                SELECT e.id, {number}, {when}, 'default', 'mx.example.com:25', {code}, NULL,
                       {code} || ' bench reply', {outcome}, 40 + e.id % 3000
                FROM sent_emails AS e WHERE {sample} {"AND e.status = 'deferred'" if number == 2 else ""}"""
            )
        )
    db.session.execute(
        sa.text(
            f"""INSERT INTO email_events (email_id, type, at, detail)
            SELECT e.id, e.status, {started_at}, '' FROM sent_emails AS e WHERE {sample}"""
        )
    )
    db.session.commit()
    # The rows were inserted by hand, not by fan-out: count them into the campaign counters the
    # pages read (what `flask campaigns recount --fix` does).
    for campaign_id in [*finished, sending]:
        counters.rebuild(campaign_id)
    if dialect == "postgresql":
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(sa.text("VACUUM ANALYZE"))
    counts = dict(db.session.execute(sa.text("SELECT status, count(*) FROM sent_emails GROUP BY status")).all())
    total = sum(counts.values())
    attempts = db.session.scalar(sa.text("SELECT count(*) FROM delivery_attempts"))
    print(f"built {total:,} sent_emails, {attempts:,} attempts on {dialect} in {time.perf_counter() - started:.1f} s")
    print("  by status:", ", ".join(f"{k} {v:,}" for k, v in sorted(counts.items())))
    ids = db.session.execute(
        sa.text("SELECT id FROM sent_emails WHERE account_id = :a ORDER BY id LIMIT 1 OFFSET :o"),
        {"a": user.account_id, "o": rows // 20},
    ).scalar()
    return {"app": app, "sending": sending, "oldest_finished": finished[0], "deep_before": ids}


def _db_time(value):
    from app.models.base import UTCDateTime

    return UTCDateTime().process_bind_param(value, None)


def percentile(values: list[float], p: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[p - 1]


def signed_in(app):
    import re

    client = app.test_client()
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', client.get("/login").text).group(1)
    form = {"email": "bench@example.com", "password": PASSWORD, "csrf_token": token}
    assert client.post("/login", data=form).status_code == 302
    return client


def timed_get(client, url: str) -> float:
    start = time.perf_counter()
    response = client.get(url)
    elapsed = (time.perf_counter() - start) * 1000
    assert response.status_code == 200, (url, response.status_code)
    return elapsed


def report(label: str, timings: list[float]) -> None:
    verdict = "PASS" if percentile(timings, 95) < TARGET_MS else "FAIL"
    print(f"  {label:<44} {summary(timings)}  p99 {percentile(timings, 99):7.1f} ms  {verdict}", flush=True)


def time_pages(app, pages: list[tuple[str, str, str]], requests: int) -> list[tuple[str, list[float]]]:
    client = signed_in(app)
    results = []
    for label, url, expect in pages:
        for _ in range(5):
            response = client.get(url)
            assert response.status_code == 200 and expect in response.text, (url, response.status_code)
        timings = [timed_get(client, url) for _ in range(requests)]
        results.append((label, timings))
        report(label, timings)
    return results


def explain(account_id: int, data: dict) -> None:
    """Print the plan of each page's main query."""
    from app.extensions import db
    from app.models import SentEmail
    from app.services import emails

    statements = {
        "send log": emails.send_log(account_id, limit=51),
        "status=failed": emails.send_log(account_id, status="failed", limit=51),
        "oldest campaign": emails.send_log(account_id, campaign_id=data["oldest_finished"], limit=51),
        "recipient": emails.send_log(account_id, recipient="r1234@example.com", limit=51),
        "deep cursor": emails.send_log(account_id, before_id=data["deep_before"], limit=51),
        "campaign stats": emails.status_counts(SentEmail.campaign_id == data["sending"]),
        "metrics by status": emails.status_counts(),
    }
    dialect = db.engine.dialect
    prefix = "EXPLAIN QUERY PLAN " if dialect.name == "sqlite" else "EXPLAIN (ANALYZE, BUFFERS) "
    for label, stmt in statements.items():
        sql = str(stmt.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))
        plan = db.session.execute(sa.text(prefix + sql)).all()
        print(f"-- {label}")
        for row in plan:
            print("   ", row[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--explain", action="store_true")
    parser.add_argument("--only", default="", help="time only the pages whose label contains this")
    parser.add_argument("--keep", action="store_true", help="keep the instance folder (the SQLite file) to explore")
    args = parser.parse_args()
    instance = make_instance()
    try:
        run(args)
    finally:
        if args.keep:
            print(f"instance kept in {instance}")
        else:
            shutil.rmtree(instance, ignore_errors=True)  # a million rows take 0.8 GB


def run(args: argparse.Namespace) -> None:
    data = build(args.rows)
    app = data["app"]
    from app.extensions import db
    from app.models import User

    account_id = db.session.scalar(sa.select(User.account_id).where(User.email == "bench@example.com"))
    if args.explain:
        explain(account_id, data)
    kind = db.engine.dialect.name
    # Time requests as a server runs them, each in its own app context (its own session and
    # login): leave the one the set-up pushed.
    db.session.remove()
    app_ctx._get_current_object().pop()
    sending, oldest = data["sending"], data["oldest_finished"]
    pages = [
        ("send log, first page", "/emails", "Older"),
        ("send log, status=failed", "/emails?status=failed", "Older"),
        ("send log, status=deferred", "/emails?status=deferred", "Older"),
        ("send log, oldest finished campaign", f"/emails?campaign_id={oldest}", "Older"),
        ("send log, sending campaign + status=queued", f"/emails?campaign_id={sending}&status=queued", "Older"),
        ("send log, recipient search", "/emails?recipient=r1234@example.com", "r1234@example.com"),
        ("send log, deep cursor (5% from the oldest)", f"/emails?before={data['deep_before']}", "Older"),
        ("campaign page, sending (40% of rows)", f"/campaigns/{sending}", "done"),
        ("campaign progress fragment, sending", f"/campaigns/{sending}/progress", "done"),
        ("campaign page, finished", f"/campaigns/{oldest}", "done"),
        ("campaign list", "/campaigns", "Sending now"),
    ]
    pages = [page for page in pages if args.only in page[0]]
    print(f"\n{args.requests} requests per page after 5 warm-up, {args.rows:,} rows, {kind}:")
    results = time_pages(app, pages, args.requests)
    print(f"  {'/metrics scrape (for information)':<44} {summary(time_scrapes(app, 20))}")
    failed = [label for label, t in results if percentile(t, 95) >= TARGET_MS]
    print(
        f"\n{len(results) - len(failed)} of {len(results)} pages under {TARGET_MS:.0f} ms at p95"
        + (f"; over: {', '.join(failed)}" if failed else "")
    )


def time_scrapes(app, scrapes: int) -> list[float]:
    client = app.test_client()
    timings = []
    for _ in range(scrapes):
        start = time.perf_counter()
        assert client.get("/metrics").status_code == 200
        timings.append((time.perf_counter() - start) * 1000)
    return timings


def summary(timings: list[float]) -> str:
    return f"p50 {percentile(timings, 50):7.1f} ms  p95 {percentile(timings, 95):7.1f} ms"


if __name__ == "__main__":
    main()
