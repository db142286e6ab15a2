"""The RQ entry point of subscriber imports: an import id in, the service does the rest.

Enqueued by ``app.services.imports`` after the import's commit, again by the service when one
job's time share runs out, and by the maintenance sweep when a job vanished.
"""

from __future__ import annotations

from app.jobs.tasks import _in_app
from app.services import imports


@_in_app
def process_import(import_id: int) -> str | None:
    """Import the next part of the file (all of it, unless it takes longer than one job's share)."""
    status = imports.process(import_id)
    return status.value if status else None
