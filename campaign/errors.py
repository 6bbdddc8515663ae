"""Domain exceptions whose attributes are the JSON:API error object they become.

Services say where a problem is inside the resource object it concerns (`at="attributes/status"`;
`at=""` is the object itself), and `item` names which object of a multi-resource request (a
bulk upload's index). Only the layer that knows the request document makes that a pointer
(`rebase`): `/data/...` for a single resource, `/data/{item}/...` for a bulk one, and
`/atomic:operations/N/data/...` inside an operation. `pointer=` is absolute: the document checks
of `documents.py`, which know the document, write those.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def escape(name: str) -> str:
    """A member name as one JSON pointer (RFC 6901) token: `~` and `/` escaped."""
    return name.replace("~", "~0").replace("/", "~1")


def pointer_to(parent: str, name: str) -> str:
    """The JSON pointer of member `name` under `parent`."""
    return f"{parent}/{escape(name)}"


# Where a resource object sits in a single-resource document: the root of an `at` that no layer
# rebased elsewhere.
PRIMARY_RESOURCE = "/data"


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
        at: str | None = None,
        item: int | None = None,
    ) -> None:
        super().__init__(detail)
        self.at = at
        self.item = item
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

    def rebase(self, root: str) -> ApiError:
        """Point `at` under `root`, the pointer of the resource object in the request."""
        if self.at is not None:
            self.source["pointer"] = f"{root}/{self.at}" if self.at else root
            self.at = None
        return self

    def to_dict(self) -> dict[str, Any]:
        self.rebase(PRIMARY_RESOURCE)
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


class UnprocessableContent(ApiError):
    status = 422
    title = "Unprocessable content"


class TooManyRequests(ApiError):
    status = 429
    title = "Too many requests"


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
