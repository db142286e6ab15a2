"""Microseconds per recipient to render a compiled campaign: plain, personalised, with tracking.

No database, no SMTP: only ``CompiledMessage.render`` (and the compile, once), the part of the
engine's per-message work that personalisation changes. CPU time (``process_time``), so other
work on the machine disturbs it less; the median of ``--reps`` runs.

    ../.venv/bin/python render_bench.py --recipients 20000
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.delivery import personalise  # noqa: E402
from app.delivery.render import CompiledMessage, Content  # noqa: E402
from app.tracking.links import Tracking  # noqa: E402

PARAGRAPHS = "\n".join(
    f"<p>Paragraph {i}: the quick brown fox jumps over the lazy dog. "
    f'Read <a href="https://example.com/article/{i}">article {i}</a>.</p>'
    for i in range(12)
)
PLAIN_HTML = f"<h1>News</h1>\n{PARAGRAPHS}\n"
PERSONAL_HTML = (
    "<h1>Hello {{ subscriber.name }}</h1>\n"
    '<p>Your plan: {{ subscriber.attributes.plan | default("free") }}, on {{ list.name }}.</p>\n'
    f"{PARAGRAPHS}\n"
    '<p><a href="{{ unsubscribe_url }}">Unsubscribe</a></p>\n'
)
CASES = {
    "plain": ("News of the week", PLAIN_HTML),
    "personalised": ("News for {{ subscriber.name }}", PERSONAL_HTML),
}


def _text(html: str) -> str:
    from app.delivery.render import html_to_text

    shield = personalise.Shield(html)
    return shield.restore(html_to_text(shield.text), "text")


def measure(subject: str, html: str, tracked: bool, recipients: int) -> tuple[float, float]:
    """(compile ms, render µs per recipient) for one campaign."""
    tracking = None
    if tracked:
        links = {f"https://example.com/article/{i}": i for i in range(12)}
        tracking = Tracking("https://mail.example.com", b"k" * 32, links, True)
    content = Content(subject, "news@example.com", "News", html, _text(html))
    started = time.process_time()
    compiled = CompiledMessage(content, tracking, "Newsletter")
    compile_ms = (time.process_time() - started) * 1000
    people = [
        personalise.Recipient(f"User {i}", f"user{i}@example.com", personalise.Attributes(plan="gold"))
        for i in range(recipients)
    ]
    date = datetime.now(UTC)
    started = time.process_time()
    for i, person in enumerate(people):
        compiled.render(
            person.email,
            f"<1.abc.{i}@example.com>",
            date,
            f"https://mail.example.com/u/{i}.signature",
            i + 1,
            person if compiled.personal else None,
        )
    return compile_ms, (time.process_time() - started) / recipients * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipients", type=int, default=20000)
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args()
    print(f"{'campaign':<14} {'tracking':<9} {'compile ms':>10} {'µs/recipient':>13}")
    for name, (subject, html) in CASES.items():
        for tracked in (False, True):
            runs = [measure(subject, html, tracked, args.recipients) for _ in range(args.reps)]
            compile_ms = statistics.median(r[0] for r in runs)
            per = statistics.median(r[1] for r in runs)
            print(f"{name:<14} {'on' if tracked else 'off':<9} {compile_ms:>10.2f} {per:>13.1f}")


if __name__ == "__main__":
    main()
