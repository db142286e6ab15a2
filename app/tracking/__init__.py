"""Open and click tracking.

``tokens`` signs the opaque ids in tracked URLs; ``links`` finds a campaign's http(s) links and
rewrites them (compiled once per campaign, filled in per recipient); ``plan`` decides what a
campaign tracks; ``machine`` tells people from bots, scanners and mail proxies; ``buffer``
queues each open or click in Redis and ``store`` writes them to the database in batches.
"""
