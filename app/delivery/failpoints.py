"""Named places where a fault test can SIGKILL the worker, enabled only by the environment.

``POSTROOM_FAILPOINTS`` lists ``name`` or ``name=N`` entries, comma-separated: each named place
kills the current process with SIGKILL the first N times it is reached across all processes
(N defaults to 1). ``POSTROOM_FAILPOINT_DIR`` holds one marker file per kill so the count is
shared by every worker and survives the kills; tests read it back to know how many landed.
Unset (production), ``hit`` is a dictionary lookup that does nothing.

Places: ``after_claim``, ``before_data``, ``after_250_before_commit``, ``mid_fanout``.
"""

from __future__ import annotations

import os
import signal

PLACES = ("after_claim", "before_data", "after_250_before_commit", "mid_fanout")


def _parse(raw: str) -> dict[str, int]:
    spec: dict[str, int] = {}
    for item in filter(None, (part.strip() for part in raw.split(","))):
        name, _, count = item.partition("=")
        if name not in PLACES:
            raise ValueError(f"unknown failpoint {name!r}; known: {', '.join(PLACES)}")
        spec[name] = int(count or 1)
    return spec


_SPEC = _parse(os.environ.get("POSTROOM_FAILPOINTS", ""))
_DIR = os.environ.get("POSTROOM_FAILPOINT_DIR", "")


def hit(name: str) -> None:
    """Die here if a test asked for it and this place still has kills left."""
    count = _SPEC.get(name)
    if not count:
        return
    for number in range(count):
        try:
            fd = os.open(os.path.join(_DIR, f"{name}.{number}"), os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            continue
        os.close(fd)
        os.kill(os.getpid(), signal.SIGKILL)


def kills(directory: str, name: str) -> int:
    """How many kills at ``name`` happened (for the tests' ledger check)."""
    return sum(1 for f in os.listdir(directory) if f.rpartition(".")[0] == name)
