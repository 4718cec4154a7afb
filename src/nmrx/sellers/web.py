"""HTML pages for seller onboarding: verify a model, Numerai keys, collateral, seller page."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from nmrx.delivery import service as delivery
from nmrx.delivery import uploads
from nmrx.notifications import service as notifications
from nmrx.platform import rate_limit
from nmrx.platform.api_deps import container
from nmrx.platform.bounds import Int64
from nmrx.platform.errors import InvalidInput, ServiceError
from nmrx.sellers import collateral, numerai_keys, ownership
from nmrx.sellers.rules import CheckOutcome
from nmrx.wallet.money import InvalidAmount, format_nmr, parse_nmr
from nmrx.web.pages import render, to_login
from nmrx.web.session import csrf_protect, csrf_protect_before_body, current_user_id, flash

router = APIRouter(include_in_schema=False)


def _back(path: str) -> RedirectResponse:
    return RedirectResponse(path, status_code=303)


@router.get("/sell", response_class=HTMLResponse)
def sell_page(request: Request) -> Response:
    user_id = current_user_id(request)
    if user_id is None:
        return to_login(request)
    c = container(request)
    return render(
        request,
        "sell.html",
        codes=[code for code in ownership.list_codes(c, user_id=user_id) if not code.used],
        models=ownership.models_of(c, user_id=user_id),
        collateral=collateral.status(c, user_id=user_id),
        uploads=uploads.list_uploads(c, user_id=user_id)[:20],
        sold_rounds=delivery.rounds_for_seller(c, user_id=user_id),
        todo=[n for n in notifications.for_user(c, user_id=user_id) if n.kind == "action"],
    )


@router.post("/sell/models/{model_id}/upload")
async def sell_upload(request: Request, model_id: Int64) -> Response:
    # who and CSRF first, from the headers and the URL: an anonymous or cross-site body is
    # refused before a byte of it is read
    user_id = current_user_id(request)
    if user_id is None:
        return to_login(request)
    csrf_protect_before_body(request)
    form = await request.form(max_files=1, max_fields=10)
    file = form.get("file")
    if file is None or isinstance(file, str) or not file.filename:
        flash(request, "Choose a CSV or parquet file to upload.", "error")
        return _back("/sell")
    limit = container(request).settings.max_upload_bytes
    content = await file.read(limit + 1)
    try:
        if len(content) > limit:
            raise InvalidInput(f"the file is larger than {limit // (1024 * 1024)} MB")
        info = uploads.upload_predictions(
            container(request),
            user_id=user_id,
            model_id=model_id,
            content=content,
            filename=file.filename,
            submit_to_own_model=form.get("submit_to_own_model") == "on",
        )
        note = ""
        if info.own_submission_id:
            note = " Also submitted to your own model on Numerai."
        elif info.own_submission_error:
            note = f" Not submitted to your own model: {info.own_submission_error}."
        flash(
            request,
            f"Accepted {info.filename} for round {info.round_number} ({info.rows} rows, sha256 {info.sha256[:12]}…); buyers are being served.{note}",
            "success",
        )
    except ServiceError as exc:
        flash(request, exc.message, "error")
    return _back("/sell")


@router.post(
    "/sell/verifications",
    dependencies=[Depends(csrf_protect), Depends(rate_limit.per_session("verifications"))],
)
def sell_request_code(
    request: Request, model_name: str = Form(""), tournament: str = Form("classic")
) -> Response:
    user_id = current_user_id(request)
    if user_id is None:
        return to_login(request)
    try:
        info = ownership.request_code(
            container(request), user_id=user_id, model_name=model_name, tournament=tournament
        )
        flash(
            request,
            f"Code issued for {info.model_name}: put it in the model's bio on Numerai, then press “Check now”.",
            "success",
        )
    except ServiceError as exc:
        flash(request, exc.message, "error")
    return _back("/sell")


@router.post(
    "/sell/verifications/{code_id}/check",
    dependencies=[
        Depends(csrf_protect),
        Depends(rate_limit.per_session("verification_checks")),
    ],
)
def sell_check_code(request: Request, code_id: Int64) -> Response:
    user_id = current_user_id(request)
    if user_id is None:
        return to_login(request)
    try:
        result = ownership.check_code(container(request), user_id=user_id, code_id=code_id)
        kind = "success" if result.outcome is CheckOutcome.VERIFIED else "error"
        flash(request, result.message[0].upper() + result.message[1:] + ".", kind)
    except ServiceError as exc:
        flash(request, exc.message, "error")
    return _back("/sell")


@router.post("/sell/models/{model_id}/release", dependencies=[Depends(csrf_protect)])
def sell_release(request: Request, model_id: Int64) -> Response:
    user_id = current_user_id(request)
    if user_id is None:
        return to_login(request)
    try:
        ownership.release_model(container(request), user_id=user_id, model_id=model_id)
        flash(request, "Model released: it is no longer bound to your account.", "success")
    except ServiceError as exc:
        flash(request, exc.message, "error")
    return _back("/sell")


@router.get("/numerai-keys", response_class=HTMLResponse)
def keys_page(request: Request) -> Response:
    user_id = current_user_id(request)
    if user_id is None:
        return to_login(request)
    return render(
        request,
        "numerai_keys.html",
        keys=numerai_keys.list_keys(container(request), user_id=user_id),
    )


@router.post(
    "/numerai-keys",
    dependencies=[Depends(csrf_protect), Depends(rate_limit.per_session("numerai_keys"))],
)
def keys_add(request: Request, public_id: str = Form(""), secret: str = Form("")) -> Response:
    user_id = current_user_id(request)
    if user_id is None:
        return to_login(request)
    try:
        info = numerai_keys.add_key(
            container(request), user_id=user_id, public_id=public_id, secret=secret
        )
        flash(
            request,
            f"Key saved for Numerai account {info.numerai_username}; {len(info.models)} model(s) verified.",
            "success",
        )
        for warning in info.warnings:
            flash(request, warning[0].upper() + warning[1:] + ".", "warning")
    except ServiceError as exc:
        flash(request, exc.message, "error")
    return _back("/numerai-keys")


@router.post("/numerai-keys/{key_id}/delete", dependencies=[Depends(csrf_protect)])
def keys_delete(request: Request, key_id: Int64) -> Response:
    user_id = current_user_id(request)
    if user_id is None:
        return to_login(request)
    try:
        numerai_keys.delete_key(container(request), user_id=user_id, key_id=key_id)
        flash(request, "Key deleted.", "success")
    except ServiceError as exc:
        flash(request, exc.message, "error")
    return _back("/numerai-keys")


@router.post("/collateral/{action}", dependencies=[Depends(csrf_protect)])
def collateral_move(
    request: Request, action: str, amount: str = Form(""), back: str = Form("/wallet")
) -> Response:
    user_id = current_user_id(request)
    if user_id is None:
        return to_login(request)
    target = back if back in {"/wallet", "/sell"} else "/wallet"
    try:
        units = parse_nmr(amount)
        if action == "lock":
            collateral.lock(container(request), user_id=user_id, amount=units)
            flash(request, f"Locked {format_nmr(units)} NMR as collateral.", "success")
        elif action == "unlock":
            collateral.unlock(container(request), user_id=user_id, amount=units)
            flash(request, f"Unlocked {format_nmr(units)} NMR of collateral.", "success")
        else:
            flash(request, "Unknown collateral action.", "error")
    except (ServiceError, InvalidAmount) as exc:
        flash(request, getattr(exc, "message", str(exc)), "error")
    return _back(target)


@router.get("/sellers/{username}", response_class=HTMLResponse)
def seller_page(request: Request, username: str) -> Response:
    from nmrx.reputation import reviews, standing

    c = container(request)
    name, since, models = ownership.seller_page(c, username=username)
    return render(
        request,
        "seller.html",
        seller=name,
        since=since,
        models=models,
        standing=standing.seller_standing(c, username=name),
        reviews=reviews.of_seller(c, username=name),
        review_back=f"/sellers/{name}",
    )
