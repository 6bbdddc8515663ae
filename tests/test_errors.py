"""campaign/errors.py: JSON pointers to member names (RFC 6901 escaping), each exception as the
JSON:API error object it becomes, and the one status a group of errors is answered with."""

from __future__ import annotations

import pytest

from campaign.errors import (
    ApiError,
    ApiErrors,
    Conflict,
    Forbidden,
    InvalidAttribute,
    InvalidDocument,
    InvalidParameter,
    NotAcceptable,
    NotFound,
    PayloadTooLarge,
    Unauthorized,
    UnsupportedMediaType,
    pointer_to,
)


@pytest.mark.parametrize(
    ("parent", "name", "pointer"),
    [
        ("/data/attributes", "name", "/data/attributes/name"),
        ("/data/attributes", "first-name", "/data/attributes/first-name"),
        ("", "extra", "/extra"),
        ("/data/attributes", "a/b", "/data/attributes/a~1b"),
        ("/data/attributes", "c~d", "/data/attributes/c~0d"),
        # `~` is escaped first, so an escaped `/` is not read back as `~` + `1`.
        ("/data/meta", "~1", "/data/meta/~01"),
        ("/data/meta", "/~", "/data/meta/~1~0"),
        ("/data/meta", "", "/data/meta/"),
        ("/data/meta", "ü x", "/data/meta/ü x"),
    ],
)
def test_pointer_to_escapes_tilde_and_slash(parent: str, name: str, pointer: str) -> None:
    assert pointer_to(parent, name) == pointer


@pytest.mark.parametrize(
    ("error_class", "status", "title"),
    [
        (ApiError, "400", "Bad request"),
        (InvalidDocument, "400", "Invalid document"),
        (InvalidAttribute, "400", "Invalid attribute"),
        (InvalidParameter, "400", "Invalid query parameter"),
        (Unauthorized, "401", "Unauthorized"),
        (Forbidden, "403", "Forbidden"),
        (NotFound, "404", "Not found"),
        (NotAcceptable, "406", "Not acceptable"),
        (Conflict, "409", "Conflict"),
        (PayloadTooLarge, "413", "Payload too large"),
        (UnsupportedMediaType, "415", "Unsupported media type"),
    ],
)
def test_each_error_is_the_error_object_of_its_status(
    error_class: type[ApiError], status: str, title: str
) -> None:
    error = error_class("what went wrong")

    assert error.to_dict() == {"status": status, "title": title, "detail": "what went wrong"}
    assert error.status == int(status)
    assert str(error) == "what went wrong"


@pytest.mark.parametrize(
    ("where", "source"),
    [
        ({"pointer": "/data/attributes/name"}, {"pointer": "/data/attributes/name"}),
        ({"pointer": ""}, {"pointer": ""}),
        ({"parameter": "page[size]"}, {"parameter": "page[size]"}),
        ({"header": "Content-Type"}, {"header": "Content-Type"}),
        (
            {"pointer": "/data", "parameter": "include", "header": "Accept"},
            {"pointer": "/data", "parameter": "include", "header": "Accept"},
        ),
    ],
    ids=["pointer", "pointer to the document", "parameter", "header", "all three"],
)
def test_the_source_holds_what_was_given(where: dict[str, str], source: dict[str, str]) -> None:
    assert InvalidDocument("bad", **where).to_dict()["source"] == source


def test_status_and_title_may_be_given_for_one_error() -> None:
    error = ApiError("slow down", status=429, title="Too many requests")

    assert error.to_dict() == {"status": "429", "title": "Too many requests", "detail": "slow down"}


@pytest.mark.parametrize(
    ("errors", "status"),
    [
        ([InvalidAttribute("a")], 400),
        ([Conflict("a"), Conflict("b")], 409),
        ([NotFound("a"), NotFound("b"), NotFound("c")], 404),
        ([Conflict("a"), NotFound("b")], 400),
        ([Forbidden("a"), InvalidAttribute("b")], 400),
    ],
    ids=["one", "two conflicts", "three not found", "conflict and not found", "403 and 400"],
)
def test_errors_together_answer_their_shared_status_or_400(
    errors: list[ApiError], status: int
) -> None:
    group = ApiErrors(errors)

    assert group.status == status
    assert group.errors == errors


@pytest.mark.parametrize(
    ("at", "root", "pointer"),
    [
        ("attributes/status", "/data", "/data/attributes/status"),
        ("attributes/phone-number", "/data/7", "/data/7/attributes/phone-number"),
        ("", "/data", "/data"),
        ("", "/data/3", "/data/3"),
        (
            "relationships/engagement/data",
            "/atomic:operations/2/data",
            ("/atomic:operations/2/data/relationships/engagement/data"),
        ),
        (pointer_to("attributes/meta", "a/b~c"), "/data", "/data/attributes/meta/a~1b~0c"),
    ],
    ids=["attribute", "bulk-entry", "object", "bulk-object", "atomic-operation", "escaped"],
)
def test_a_place_in_a_resource_object_is_rebased_under_its_root(
    at: str, root: str, pointer: str
) -> None:
    error = Conflict("refused", at=at)
    assert error.rebase(root).source == {"pointer": pointer}
    # Rebased once: a later rebase (the handler's default) leaves the pointer as it is.
    assert error.rebase("/data").to_dict()["source"] == {"pointer": pointer}


def test_an_absolute_pointer_is_never_rebased() -> None:
    error = InvalidDocument("bad", pointer="/data/type")
    assert error.rebase("/data/4").source == {"pointer": "/data/type"}


def test_a_place_no_layer_rebased_points_into_the_primary_resource() -> None:
    assert Conflict("refused", at="attributes/status").to_dict()["source"] == {
        "pointer": "/data/attributes/status"
    }
    assert "source" not in Conflict("refused").to_dict()
