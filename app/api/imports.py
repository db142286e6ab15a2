"""API v1 subscriber imports and list export: CSV in, CSV out.

``POST /lists/{id}/imports`` takes the file as the request body (``text/csv``) or as the
multipart field ``file``, streams it to disk and answers 202 with the import, which a
background job then processes; ``GET /imports/{id}`` shows its progress and counts. Row errors
and the export are CSV downloads, streamed.
"""

from __future__ import annotations

from typing import Literal

from flask import Response, g, request, stream_with_context
from pydantic import Field

from app.api import paging
from app.api.auth import account_id
from app.api.openapi import api_route
from app.api.schemas import Out, Page, PageQuery, Query, Timestamp
from app.models import ImportStatus, SubscriberImport, SubscriberStatus
from app.services import imports, lists
from app.services.errors import ValidationFailed

CSV_TYPES = ("text/csv", "text/plain", "application/csv")
# Room for the multipart boundaries and headers around a file of the maximum size.
MULTIPART_SLACK = 64 * 1024
UPLOAD_BODY = {
    "text/csv": {"type": "string", "description": "the CSV file itself"},
    "multipart/form-data": {
        "type": "object",
        "properties": {"file": {"type": "string", "format": "binary", "description": "the CSV file"}},
        "required": ["file"],
    },
}


class ImportCreateQuery(Query):
    status: Literal["confirmed", "pending"] = Field(
        "confirmed",
        description="what new subscribers become; `pending` sends each a confirmation e-mail. "
        "`confirmed` means you vouch that they agreed to receive your mail",
    )
    filename: str = Field("", max_length=255, description="a name to show for a text/csv body")


class ExportQuery(Query):
    status: SubscriberStatus | None = Field(None, description="only subscribers with this status")


class ImportOut(Out):
    id: int
    list_id: int
    filename: str
    status: ImportStatus
    subscriber_status: SubscriberStatus = Field(description="what new subscribers become")
    error: str = Field(description="why a failed import stopped")
    total_bytes: int
    processed_bytes: int
    percent: int = Field(description="how much of the file is processed")
    rows_seen: int = Field(description="non-blank rows read, the header not counted")
    added: int
    already_on_list: int = Field(description="left as they were (name and status kept)")
    skipped_unsubscribed: int = Field(description="unsubscribed addresses, not resubscribed")
    invalid: int = Field(description="rows rejected; `GET /imports/{id}/errors` lists them")
    duplicates: int = Field(description="repeats of an address earlier in the file")
    created_at: Timestamp
    started_at: Timestamp | None
    finished_at: Timestamp | None


@api_route(
    "/lists/<int:list_id>/imports",
    "POST",
    query=ImportCreateQuery,
    raw_body=UPLOAD_BODY,
    response=ImportOut,
    status=202,
)
def create_import(list_id: int, query: ImportCreateQuery):
    """Upload a CSV of subscribers (body `text/csv`, or multipart field `file`); a job imports it."""
    lists.get(account_id(), list_id)  # before reading a byte of the body
    request.max_content_length = imports.max_bytes() + MULTIPART_SLACK
    if request.mimetype == "multipart/form-data":
        upload = request.files.get("file")
        if upload is None:
            raise ValidationFailed("send the CSV in a multipart/form-data field named file", "file")
        source, filename, length = upload.stream, upload.filename or query.filename, None
    elif request.mimetype in CSV_TYPES:
        source, filename, length = request.stream, query.filename, request.content_length
    else:
        raise ValidationFailed(
            "send the CSV as the request body with Content-Type: text/csv, or as a multipart/form-data field "
            "named file",
            "body",
        )
    return imports.create(account_id(), list_id, source, filename, query.status, length=length)


@api_route("/lists/<int:list_id>/imports", query=PageQuery, response=Page[ImportOut])
def list_imports(list_id: int, query: PageQuery):
    """A list's imports, newest first."""
    stmt = imports.query(account_id(), list_id)
    return paging.keyset(stmt, SubscriberImport, query)


@api_route("/imports/<int:import_id>", response=ImportOut)
def get_import(import_id: int):
    """One import: its status, progress and counts."""
    return imports.get(account_id(), import_id)


@api_route("/imports/<int:import_id>/errors", produces="text/csv")
def import_errors(import_id: int):
    """The import's rejected rows as CSV: line, value, message."""
    return csv_download(imports.errors_csv(account_id(), import_id), f"import-{import_id}-errors.csv")


@api_route("/lists/<int:list_id>/export", query=ExportQuery, produces="text/csv")
def export_list(list_id: int, query: ExportQuery):
    """The list's subscribers as CSV: email, name, status, created_at, confirmed_at, unsubscribed_at."""
    status = query.status.value if query.status else None
    rows = imports.export(account_id(), list_id, status, user=g.api_user)
    return csv_download(rows, imports.export_filename(account_id(), list_id))


def csv_download(rows, filename: str) -> Response:
    """A streamed CSV attachment (the generator runs inside the request's context)."""
    return Response(
        stream_with_context(rows),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
