"""JSON API for uploads, deliveries, downloads and seller webhooks."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Depends, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import BaseModel, TypeAdapter, ValidationError

from nmrx.accounts.rules import Scope
from nmrx.accounts.service import Principal
from nmrx.delivery import downloads, uploads, webhooks
from nmrx.delivery import service as delivery
from nmrx.platform.api_deps import container, principal, require
from nmrx.platform.bounds import Int64
from nmrx.platform.errors import InvalidInput, NotFound
from nmrx.platform.filenames import content_disposition

router = APIRouter(prefix="/api/v1")
_FORM_BOOL = TypeAdapter(bool)


class UploadOut(BaseModel):
    id: int
    model: str
    tournament: str
    round_number: int
    sha256: str
    filename: str
    format: str
    rows: int
    size_bytes: int
    created_at: datetime
    replaced: bool
    own_submission_id: str | None
    own_submission_error: str | None


class DeliveryOut(BaseModel):
    id: int
    fill_id: int
    kind: str
    state: str
    model: str
    round_number: int
    mode: str
    quantity: int
    price: int
    sha256: str | None
    numerai_submission_id: str | None
    submitted_filename: str | None
    fault: str | None
    last_error: str | None
    delivered_at: datetime | None


class LinkOut(BaseModel):
    url: str
    expires_in: int
    filename: str


class WebhookIn(BaseModel):
    url: str


class WebhookOut(BaseModel):
    url: str
    secret: str
    created_at: datetime


class WebhookCallOut(BaseModel):
    id: int
    event: str
    state: str
    attempts: int
    last_status: int | None
    last_error: str | None
    created_at: datetime


UPLOAD_FORM = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {
                            "type": "string",
                            "format": "binary",
                            "description": "CSV or parquet predictions for the current round",
                        },
                        "submit_to_own_model": {"type": "boolean", "default": False},
                    },
                }
            }
        },
    }
}


def _missing_file() -> RequestValidationError:
    return RequestValidationError(
        [{"type": "missing", "loc": ("body", "file"), "msg": "Field required", "input": None}]
    )


@router.post(
    "/models/{model_id}/uploads",
    response_model=UploadOut,
    status_code=201,
    tags=["uploads"],
    openapi_extra=UPLOAD_FORM,
)
async def upload(
    model_id: Int64,
    request: Request,
    who: Principal = Depends(require(Scope.UPLOAD)),
) -> UploadOut:
    """Upload this round's predictions for a model you own (multipart form, field `file`)."""
    # The token is checked (the dependency above) before the form is read: FastAPI would parse
    # File/Form parameters before any dependency, spooling an anonymous caller's body to disk.
    form = await request.form(max_files=1, max_fields=10)
    file = form.get("file")
    if file is None or isinstance(file, str):
        raise _missing_file()
    try:
        submit_to_own_model = _FORM_BOOL.validate_python(form.get("submit_to_own_model") or False)
    except ValidationError as exc:
        raise RequestValidationError(
            [{**e, "loc": ("body", "submit_to_own_model")} for e in exc.errors()]
        ) from None
    limit = container(request).settings.max_upload_bytes
    content = await file.read(limit + 1)
    if len(content) > limit:
        raise InvalidInput(f"the file is larger than {limit // (1024 * 1024)} MB")
    info = uploads.upload_predictions(
        container(request),
        user_id=who.user_id,
        model_id=model_id,
        content=content,
        filename=file.filename or "predictions.csv",
        submit_to_own_model=submit_to_own_model,
    )
    return UploadOut(**info.__dict__)


@router.get("/uploads", response_model=list[UploadOut], tags=["uploads"])
def my_uploads(
    request: Request, model_id: Int64 | None = None, who: Principal = Depends(require(Scope.READ))
) -> list[UploadOut]:
    return [
        UploadOut(**u.__dict__)
        for u in uploads.list_uploads(container(request), user_id=who.user_id, model_id=model_id)
    ]


@router.get("/deliveries", response_model=list[DeliveryOut], tags=["deliveries"])
def my_deliveries(
    request: Request,
    round_number: Int64 | None = None,
    who: Principal = Depends(require(Scope.READ)),
) -> list[DeliveryOut]:
    items = delivery.deliveries_for(
        container(request), user_id=who.user_id, round_number=round_number
    )
    return [DeliveryOut(**d.__dict__) for d in items]


@router.post("/fills/{fill_id}/download-link", response_model=LinkOut, tags=["deliveries"])
def download_link(
    fill_id: Int64, request: Request, who: Principal = Depends(require(Scope.READ))
) -> LinkOut:
    """A short-lived link to download a File Mode purchase (never for Stake Mode)."""
    base = str(request.base_url).rstrip("/")
    link = downloads.create_link(
        container(request), user_id=who.user_id, fill_id=fill_id, base_url=base
    )
    return LinkOut(**link.__dict__)


@router.get("/downloads/{token}", tags=["deliveries"], response_class=Response)
def download(token: str, request: Request, who: Principal = Depends(principal)) -> Response:
    who.require(Scope.READ)
    got = downloads.fetch(container(request), user_id=who.user_id, token=token)
    return Response(
        got.content,
        media_type=got.media_type,
        headers={
            "Content-Disposition": content_disposition(got.filename),
            "X-Content-SHA256": got.sha256,
            "Cache-Control": "no-store",
        },
    )


@router.put("/webhook", response_model=WebhookOut, tags=["webhooks"])
def set_webhook(
    body: WebhookIn, request: Request, who: Principal = Depends(require(Scope.TRADE))
) -> WebhookOut:
    """Register or change your webhook URL. The signing `secret` is in full only in the
    answer that creates the webhook; afterwards it is masked (rotate it to get a new one)."""
    info = webhooks.set_webhook(container(request), user_id=who.user_id, url=body.url)
    return WebhookOut(**info.__dict__)


@router.post("/webhook/secret", response_model=WebhookOut, tags=["webhooks"])
def rotate_webhook_secret(
    request: Request, who: Principal = Depends(require(Scope.TRADE))
) -> WebhookOut:
    """A new signing secret, in full in this answer only; the old one stops signing at once."""
    info = webhooks.rotate_secret(container(request), user_id=who.user_id)
    return WebhookOut(**info.__dict__)


@router.get("/webhook", response_model=WebhookOut, tags=["webhooks"])
def get_webhook(request: Request, who: Principal = Depends(require(Scope.READ))) -> WebhookOut:
    """Your webhook; its `secret` is masked (it is shown only when created or rotated)."""
    info = webhooks.get_webhook(container(request), user_id=who.user_id)
    if info is None:
        raise NotFound("you have no webhook")
    return WebhookOut(**info.__dict__)


@router.delete("/webhook", status_code=204, tags=["webhooks"])
def delete_webhook(request: Request, who: Principal = Depends(require(Scope.TRADE))) -> None:
    webhooks.delete_webhook(container(request), user_id=who.user_id)


@router.get("/webhook/calls", response_model=list[WebhookCallOut], tags=["webhooks"])
def webhook_calls(
    request: Request, who: Principal = Depends(require(Scope.READ))
) -> list[WebhookCallOut]:
    return [
        WebhookCallOut(**c.__dict__)
        for c in webhooks.calls(container(request), user_id=who.user_id)
    ]
