"""List queries (campaign/listing.py) through the API: cursor pages walked both ways (also across
equal timestamps), sort on timestamps, filters, include, and the 400 naming each parameter the
server does not accept."""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Flask

from campaign.models import EngagementStatus, EnvelopeStatus, TextStatus
from tests.assertions import assert_error
from tests.client import ApiClient, Reply
from tests.factories import BULK, build_seed_campaign, envelope, make_phone_number, resource
from tests.world import World

TEMPLATES = "/api/v1/text-templates"
ENVELOPES = "/api/v1/envelopes"


def create_templates(api: ApiClient, count: int) -> list[str]:
    """`count` text templates, their ids in order of creation."""
    ids = []
    for index in range(count):
        reply = api.post(
            TEMPLATES,
            resource("text-templates", {"name": f"Template {index}", "body": f"Body {index}"}),
        )
        assert reply.status == 201
        ids.append(reply.data["id"])
    return ids


def same_url(link: str, url: str) -> bool:
    """Whether two URLs name the same path and query (links are absolute and percent-encoded)."""
    first, second = urlsplit(link), urlsplit(url)
    return (first.path, parse_qs(first.query)) == (second.path, parse_qs(second.query))


def walk(api: ApiClient, url: str, link: str) -> tuple[list[list[str]], Reply]:
    """Follow `links[link]` from `url` until null: the ids of each page, and the last reply."""
    pages: list[list[str]] = []
    seen_urls = set()
    next_url: str | None = url
    reply: Reply | None = None
    while next_url is not None:
        assert next_url not in seen_urls, f"pagination loops at {next_url}"
        seen_urls.add(next_url)
        reply = api.get(next_url)
        assert reply.status == 200, reply.document
        assert same_url(reply.document["links"]["self"], next_url)
        pages.append([item["id"] for item in reply.data])
        next_url = reply.document["links"][link]
        assert len(pages) <= 100, "pagination does not end"
    assert reply is not None
    return pages, reply


def walk_both_ways(api: ApiClient, url: str) -> tuple[list[str], list[str]]:
    """Every id walking forward with `next`, then back from the last page with `prev`."""
    forward_pages, last = walk(api, url, "next")
    backward_pages = [forward_pages[-1]]
    if last.document["links"]["prev"] is not None:
        pages, _ = walk(api, last.document["links"]["prev"], "prev")
        backward_pages += pages
    forward = [id_ for page in forward_pages for id_ in page]
    backward = [id_ for page in reversed(backward_pages) for id_ in page]
    return forward, backward


def test_walks_every_row_once_forward_and_backward_in_creation_order(api: ApiClient) -> None:
    ids = create_templates(api, 7)
    pages, last = walk(api, f"{TEMPLATES}?page[size]=3", "next")
    assert pages == [ids[0:3], ids[3:6], ids[6:7]]
    assert last.document["links"]["next"] is None

    prev_pages, first = walk(api, last.document["links"]["prev"], "prev")
    assert prev_pages == [ids[3:6], ids[0:3]]
    assert first.document["links"]["prev"] is None
    assert first.document["links"]["next"] is not None


@pytest.mark.parametrize(("sort", "reverse"), [("created-at", False), ("-created-at", True)])
def test_sort_on_created_at_orders_pages_in_both_directions(
    api: ApiClient, sort: str, reverse: bool
) -> None:
    ids = create_templates(api, 7)
    expected = list(reversed(ids)) if reverse else ids
    forward, backward = walk_both_ways(api, f"{TEMPLATES}?sort={sort}&page[size]=3")
    assert forward == expected
    assert backward == expected


def test_sort_on_updated_at_follows_the_latest_change(api: ApiClient) -> None:
    ids = create_templates(api, 7)
    for index in (0, 3):
        reply = api.patch(
            f"{TEMPLATES}/{ids[index]}",
            resource("text-templates", {"name": f"Changed {index}"}, id_=ids[index]),
        )
        assert reply.status == 200
    expected = [ids[i] for i in (1, 2, 4, 5, 6, 0, 3)]
    forward, backward = walk_both_ways(api, f"{TEMPLATES}?sort=updated-at&page[size]=3")
    assert forward == backward == expected
    forward, backward = walk_both_ways(api, f"{TEMPLATES}?sort=-updated-at&page[size]=3")
    assert forward == backward == list(reversed(expected))


def test_a_full_last_page_has_no_next_link(api: ApiClient) -> None:
    ids = create_templates(api, 6)
    pages, last = walk(api, f"{TEMPLATES}?page[size]=3", "next")
    assert pages == [ids[0:3], ids[3:6]]
    assert last.document["links"]["next"] is None


def test_lists_carry_no_total_count(api: ApiClient) -> None:
    create_templates(api, 4)
    reply = api.get(f"{TEMPLATES}?page[size]=2")
    meta: dict[str, Any] = reply.document.get("meta", {})
    assert not {key for key in meta if "total" in key or "count" in key}
    assert set(reply.document["links"]) == {"self", "next", "prev"}


def test_page_links_keep_size_sort_and_filters(app: Flask, api: ApiClient) -> None:
    with app.app_context():
        phone_id = make_phone_number(account_id=api.credentials.account_id)
    campaign = build_seed_campaign(api, phone_id)
    url = f"{ENVELOPES}?filter[engagement]={campaign.engagement_id}&sort=-created-at&page[size]=1"
    next_url = api.get(url).document["links"]["next"]
    query = parse_qs(urlsplit(next_url).query)
    assert query["filter[engagement]"] == [campaign.engagement_id]
    assert query["sort"] == ["-created-at"]
    assert query["page[size]"] == ["1"]
    assert "page[after]" in query


def test_page_size_over_the_maximum_is_rejected(app: Flask, api: ApiClient) -> None:
    maximum = app.config["MAX_PAGE_SIZE"]
    reply = api.get(f"{TEMPLATES}?page[size]={maximum + 1}")
    assert reply.status == 400
    assert reply.errors[0]["source"] == {"parameter": "page[size]"}
    assert api.get(f"{TEMPLATES}?page[size]={maximum}").status == 200


@pytest.mark.parametrize("size", ["0", "-1", "three", ""])
def test_page_size_that_is_not_a_positive_number_is_rejected(api: ApiClient, size: str) -> None:
    reply = api.get(f"{TEMPLATES}?page[size]={size}")
    assert reply.status == 400
    assert reply.errors[0]["source"] == {"parameter": "page[size]"}


def test_default_page_size_is_capped_by_the_maximum(
    app: Flask, api: ApiClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = create_templates(api, 3)
    monkeypatch.setitem(app.config, "MAX_PAGE_SIZE", 2)
    first = api.get(TEMPLATES)
    assert [item["id"] for item in first.data] == ids[:2]
    assert first.document["links"]["next"] is not None
    assert api.get(f"{TEMPLATES}?page[size]=3").errors[0]["source"] == {"parameter": "page[size]"}


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("page[after]=not-a-cursor", "page[after]"),
        ("page[before]=bm90LWpzb24", "page[before]"),
        ("filter[name]=x", "filter[name]"),
        ("filter[status]=", "filter[status]"),
        ("include=envelope", "include"),
        ("colour=blue", "colour"),
    ],
)
def test_parameters_the_server_does_not_accept_are_named(
    api: ApiClient, query: str, parameter: str
) -> None:
    reply = api.get(f"/api/v1/engagements?{query}")
    assert reply.status == 400
    assert reply.errors[0]["source"] == {"parameter": parameter}


def test_rows_with_equal_timestamps_paginate_without_loss_or_repetition(
    app: Flask, api: ApiClient
) -> None:
    engagement_id = api.post("/api/v1/engagements", resource("engagements", {"name": "Bulk"})).data[
        "id"
    ]
    uploaded = api.post(
        ENVELOPES,
        {
            "data": [
                envelope(engagement_id, f"+1519555{index:04d}", {"n": index}) for index in range(25)
            ]
        },
        headers=BULK,
    )
    assert uploaded.status == 201
    ids = [item["id"] for item in uploaded.data]
    assert len({item["attributes"]["created-at"] for item in uploaded.data}) == 1

    forward, backward = walk_both_ways(api, f"{ENVELOPES}?page[size]=4")
    assert len(forward) == 25 and set(forward) == set(ids)
    assert backward == forward
    descending, descending_back = walk_both_ways(api, f"{ENVELOPES}?sort=-created-at&page[size]=4")
    assert descending == descending_back == list(reversed(forward))


def test_filter_on_status(app: Flask, api: ApiClient) -> None:
    with app.app_context():
        phone_id = make_phone_number(account_id=api.credentials.account_id)
    kept = build_seed_campaign(api, phone_id)
    dropped = build_seed_campaign(api, phone_id)
    reply = api.patch(
        f"/api/v1/engagements/{dropped.engagement_id}",
        resource("engagements", {"status": "cancelled"}, id_=dropped.engagement_id),
    )
    assert reply.status == 200

    cancelled = api.get("/api/v1/engagements?filter[status]=cancelled")
    assert [item["id"] for item in cancelled.data] == [dropped.engagement_id]
    pending = api.get("/api/v1/engagements?filter[status]=pending")
    assert [item["id"] for item in pending.data] == [kept.engagement_id]
    envelopes = api.get(f"{ENVELOPES}?filter[status]=cancelled&page[size]=1")
    forward, _ = walk_both_ways(api, f"{ENVELOPES}?filter[status]=cancelled&page[size]=1")
    assert envelopes.data[0]["attributes"]["status"] == "cancelled"
    assert sorted(forward) == sorted(dropped.envelope_ids)


def test_include_activity_on_envelopes_lists_the_activity_once(app: Flask, api: ApiClient) -> None:
    with app.app_context():
        phone_id = make_phone_number(account_id=api.credentials.account_id)
    campaign = build_seed_campaign(api, phone_id)
    reply = api.get(f"{ENVELOPES}?include=activity")
    assert reply.status == 200
    assert len(reply.data) == 2
    assert {item["relationships"]["activity"]["data"]["id"] for item in reply.data} == {
        campaign.activity_id
    }
    assert [(item["type"], item["id"]) for item in reply.document["included"]] == [
        ("activities", campaign.activity_id)
    ]
    assert reply.document["included"][0]["attributes"]["name"] == "Text Blast"


def test_lists_without_include_have_no_included_member(app: Flask, api: ApiClient) -> None:
    with app.app_context():
        phone_id = make_phone_number(account_id=api.credentials.account_id)
    build_seed_campaign(api, phone_id)
    assert "included" not in api.get(ENVELOPES).document


def test_nul_in_a_filter_value_is_a_400_naming_it(api: ApiClient) -> None:
    reply = api.get(f"{ENVELOPES}?filter[engagement]=a%00b")
    assert reply.status == 400
    assert reply.errors[0]["source"] == {"parameter": "filter[engagement]"}


def test_cursor_with_a_nul_in_its_id_is_a_400_naming_it(api: ApiClient) -> None:
    forged = base64.urlsafe_b64encode(b'["2024-01-01T00:00:00+00:00", "a\\u0000b"]').decode()
    reply = api.get(f"{ENVELOPES}?page[after]={forged.rstrip('=')}")
    assert reply.status == 400
    assert reply.errors[0]["source"] == {"parameter": "page[after]"}


# --- parameters the server does not accept, on every collection ---

# (path, query string, parameter named by the error)
BAD_QUERIES: list[Any] = [
    ("/api/v1/engagements", "foo=1", "foo"),
    ("/api/v1/engagements", "filter[nope]=x", "filter[nope]"),
    ("/api/v1/envelopes", "filter[meta]=x", "filter[meta]"),
    ("/api/v1/envelopes", "filter[status]=", "filter[status]"),
    ("/api/v1/engagements", "filter[status]=bogus", "filter[status]"),
    ("/api/v1/envelopes", "filter[status]=Pending", "filter[status]"),
    ("/api/v1/texts", "filter[status]=delivered ", "filter[status]"),
    ("/api/v1/texts", "filter=x", "filter"),
    ("/api/v1/engagements", "sort=name", "sort"),
    ("/api/v1/engagements", "sort=created-at,updated-at", "sort"),
    ("/api/v1/engagements", "sort=--created-at", "sort"),
    ("/api/v1/engagements", "page[size]=100000", "page[size]"),
    ("/api/v1/engagements", "page[size]=0", "page[size]"),
    ("/api/v1/engagements", "page[size]=-1", "page[size]"),
    ("/api/v1/engagements", "page[size]=ten", "page[size]"),
    ("/api/v1/engagements", "page[number]=2", "page[number]"),
    ("/api/v1/engagements", "page[offset]=10", "page[offset]"),
    ("/api/v1/engagements", "include=nope", "include"),
    ("/api/v1/engagements", "include=activity,nope", "include"),
    ("/api/v1/envelopes", "include=engagement.activity", "include"),
    ("/api/v1/engagements", "fields[engagements]=name", "fields[engagements]"),
    ("/api/v1/engagements", "page[after]=garbage", "page[after]"),
    ("/api/v1/engagements", "page[before]=garbage", "page[before]"),
    ("/api/v1/engagements", "page[after]=%00", "page[after]"),
    # base64 of `[1]`, `5`, `["2024-01-01T00:00:00", "x"]` (no time zone), `["now", "x"]`
    ("/api/v1/engagements", "page[after]=WzFd", "page[after]"),
    ("/api/v1/engagements", "page[after]=NQ", "page[after]"),
    ("/api/v1/engagements", "page[after]=WyIyMDI0LTAxLTAxVDAwOjAwOjAwIiwgIngiXQ", "page[after]"),
    ("/api/v1/engagements", "page[after]=WyJub3ciLCAieCJd", "page[after]"),
    ("/api/v1/engagements/{engagement}", "foo=1", "foo"),
    ("/api/v1/engagements/{engagement}", "include=nope", "include"),
    ("/api/v1/engagements/{engagement}", "page[size]=5", "page[size]"),
]


def _query_id(case: Any) -> str:
    path, query, _ = case.values if hasattr(case, "values") else case
    return f"{path.removeprefix('/api/v1/').replace('{engagement}', 'ID')}?{query}"


@pytest.mark.parametrize(
    ("path", "query", "parameter"), BAD_QUERIES, ids=[_query_id(case) for case in BAD_QUERIES]
)
def test_unsupported_query_parameter_is_400_naming_it(
    world: World, api: ApiClient, path: str, query: str, parameter: str
) -> None:
    url = path.format(engagement=world.seed.engagement_id) + "?" + query
    assert_error(api.get(url), 400, parameter=parameter)


@pytest.mark.parametrize(
    ("path", "allowed"),
    [
        ("/api/v1/engagements", EngagementStatus),
        ("/api/v1/envelopes", EnvelopeStatus),
        ("/api/v1/texts", TextStatus),
    ],
)
def test_an_unknown_status_filter_is_400_naming_the_allowed_values(
    world: World, api: ApiClient, path: str, allowed: Any
) -> None:
    error = assert_error(api.get(f"{path}?filter[status]=bogus"), 400, parameter="filter[status]")

    assert error["detail"] == "filter[status] must be one of: " + ", ".join(
        status.value for status in allowed
    )


def test_both_page_after_and_before_is_400(world: World, api: ApiClient) -> None:
    first = api.get("/api/v1/envelopes?page[size]=1")
    cursor = parse_qs(urlsplit(first.document["links"]["next"]).query)["page[after]"][0]
    reply = api.get(f"/api/v1/envelopes?page[after]={cursor}&page[before]={cursor}")
    assert_error(reply, 400, parameter="page[before]")


def _links(node: Any) -> list[str]:
    """Every string under a `links` member anywhere in a document."""
    found: list[str] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "links" and isinstance(value, dict):
                found += [link for link in value.values() if isinstance(link, str)]
            found += _links(value)
    elif isinstance(node, list):
        for item in node:
            found += _links(item)
    return found


def test_every_link_and_location_is_a_path_on_this_api(app: Flask, api: ApiClient) -> None:
    """One kind of link everywhere: path-absolute, never a scheme and host the app guessed
    (behind a TLS proxy those would be wrong)."""
    created = api.post(TEMPLATES, resource("text-templates", {"name": "A", "body": "Hi"}))
    create_templates(api, 2)
    with app.app_context():
        phone_id = make_phone_number(account_id=api.credentials.account_id)
    seed = build_seed_campaign(api, phone_id)
    bulk = api.post(
        ENVELOPES, {"data": [envelope(seed.engagement_id, "+15197566221")]}, headers=BULK
    )
    replies = [
        created,
        bulk,
        api.get(f"{TEMPLATES}?page[size]=1"),
        api.get(f"{TEMPLATES}?page[size]=1&sort=-created-at"),
        api.get(f"{TEMPLATES}/{created.data['id']}"),
        api.get(f"{ENVELOPES}?filter[engagement]={seed.engagement_id}&include=engagement"),
    ]

    links = [link for reply in replies for link in _links(reply.document)]
    links.append(created.headers["Location"])
    assert len(links) > 10
    for link in links:
        assert link.startswith("/api/v1/") and "://" not in link, link
