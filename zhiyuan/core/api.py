"""What every API router shares: authentication, the error shape and the error handlers.

Every error is ``{"code": "<stable code>", "message": "<translated text>"}`` (validation errors
add ``errors``). Clients branch on ``code``; people read ``message`` in their language.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.utils.translation import gettext as _
from ninja import NinjaAPI, Schema
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError
from ninja.security import HttpBearer
from ninja.security import SessionAuth as NinjaSessionAuth

from zhiyuan.core.permissions import record_refusal


class ErrorOut(Schema):
    code: str
    message: str


class ApiError(Exception):
    """An error a client can act on, with its HTTP status and stable code."""

    def __init__(self, status: int, code: str, message: str) -> None:
        self.status, self.code, self.message = status, code, message
        super().__init__(message)


class TokenAuth(HttpBearer):
    """``Authorization: Bearer zy_…`` for app clients (mini program, mobile app)."""

    def authenticate(self, request: HttpRequest, token: str) -> Any:
        from zhiyuan.accounts.services import token_authenticate

        user = token_authenticate(token)
        if user is not None:
            request.user = user
        return user


class SessionAuth(NinjaSessionAuth):
    """The pages' own session, with its CSRF check — but not for a call that brings a bearer
    token: such a call stands or falls by its token. (Else a POST with an expired token was
    answered 403 "CSRF check Failed", in English, by the session's CSRF check, instead of
    401 with the reason in the caller's language.)"""

    def __call__(self, request: HttpRequest) -> Any:
        if request.META.get("HTTP_AUTHORIZATION", "")[:7].lower() == "bearer ":
            return None
        return super().__call__(request)


# Session auth for the pages' own htmx calls (with CSRF), bearer tokens for apps.
AUTH = [TokenAuth(), SessionAuth()]


def install_error_handlers(api: NinjaAPI) -> None:
    def respond(
        request: HttpRequest, status: int, code: str, message: str, **extra: Any
    ) -> HttpResponse:
        return api.create_response(
            request, {"code": code, "message": message, **extra}, status=status
        )

    @api.exception_handler(ApiError)
    def _api_error(request: HttpRequest, exc: ApiError) -> HttpResponse:
        return respond(request, exc.status, exc.code, exc.message)

    @api.exception_handler(AuthenticationError)
    def _unauthenticated(request: HttpRequest, exc: Exception) -> HttpResponse:
        return respond(request, 401, "unauthenticated", _("Log in or send a valid API token."))

    @api.exception_handler(PermissionDenied)
    def _forbidden(request: HttpRequest, exc: Exception) -> HttpResponse:
        record_refusal(exc)  # a refusal raised inside a service's transaction is audited now
        return respond(request, 403, "forbidden", _("You do not have permission to do this here."))

    @api.exception_handler(Http404)
    def _not_found(request: HttpRequest, exc: Exception) -> HttpResponse:
        return respond(
            request, 404, "not_found", _("There is nothing here, or it is not yours to see.")
        )

    @api.exception_handler(NinjaValidationError)
    def _invalid(request: HttpRequest, exc: NinjaValidationError) -> HttpResponse:
        return respond(
            request, 422, "invalid", _("Some of what was sent is not valid."), errors=exc.errors
        )

    @api.exception_handler(DjangoValidationError)
    def _rule(request: HttpRequest, exc: DjangoValidationError) -> HttpResponse:
        return respond(request, 422, "invalid", " ".join(exc.messages))

    @api.exception_handler(HttpError)
    def _http(request: HttpRequest, exc: HttpError) -> HttpResponse:
        return respond(request, exc.status_code, "error", str(exc))
