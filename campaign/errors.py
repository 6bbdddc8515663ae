"""Domain exceptions whose attributes are the JSON:API error object they become."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def pointer_to(parent: str, name: str) -> str:
    """The JSON pointer (RFC 6901) of member `name` under `parent`, with `~` and `/` escaped."""
    return f"{parent}/{name.replace('~', '~0').replace('/', '~1')}"


class ApiError(Exception):
    """One JSON:API error: `status`, `title`, `detail` and a `source` (pointer or parameter)."""

    status = 400
    title = "Bad request"

    def __init__(
        self,
        detail: str,
        *,
        pointer: str | None = None,
        parameter: str | None = None,
        header: str | None = None,
        status: int | None = None,
        title: str | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.status = status or self.status
        self.title = title or self.title
        self.source: dict[str, str] = {}
        if pointer is not None:
            self.source["pointer"] = pointer
        if parameter is not None:
            self.source["parameter"] = parameter
        if header is not None:
            self.source["header"] = header

    def to_dict(self) -> dict[str, Any]:
        error: dict[str, Any] = {
            "status": str(self.status),
            "title": self.title,
            "detail": self.detail,
        }
        if self.source:
            error["source"] = self.source
        return error


class InvalidDocument(ApiError):
    title = "Invalid document"


class InvalidAttribute(ApiError):
    title = "Invalid attribute"


class InvalidParameter(ApiError):
    title = "Invalid query parameter"


class Unauthorized(ApiError):
    status = 401
    title = "Unauthorized"


class Forbidden(ApiError):
    status = 403
    title = "Forbidden"


class NotFound(ApiError):
    status = 404
    title = "Not found"


class Conflict(ApiError):
    status = 409
    title = "Conflict"


class PayloadTooLarge(ApiError):
    status = 413
    title = "Payload too large"


class UnsupportedMediaType(ApiError):
    status = 415
    title = "Unsupported media type"


class NotAcceptable(ApiError):
    status = 406
    title = "Not acceptable"


class ApiErrors(Exception):
    """Several errors answered together (e.g. every bad entry of a bulk upload).

    The response status is the one they share, or 400 when they differ.
    """

    def __init__(self, errors: Iterable[ApiError]) -> None:
        self.errors = list(errors)
        super().__init__(f"{len(self.errors)} errors")
        statuses = {error.status for error in self.errors}
        self.status = statuses.pop() if len(statuses) == 1 else 400
