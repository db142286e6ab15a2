"""Processes that start together on a fresh instance share one embedded Redis."""

from __future__ import annotations

import subprocess
import sys

from app.config import PROJECT_ROOT

PROBE = """
import sys, time
from app.redis_client import connect
conn = connect(None, sys.argv[1])
conn.incr("starters")
print(conn.socket_file, flush=True)
time.sleep(1.5)  # stay connected while the others start
"""


def test_concurrent_starters_share_one_server(tmp_path):
    starters = [
        subprocess.Popen(
            [sys.executable, "-c", PROBE, str(tmp_path)], cwd=PROJECT_ROOT, stdout=subprocess.PIPE, text=True
        )
        for _ in range(4)
    ]
    sockets = {p.communicate(timeout=60)[0].strip() for p in starters}
    assert all(p.returncode == 0 for p in starters)
    assert len(sockets) == 1, sockets
