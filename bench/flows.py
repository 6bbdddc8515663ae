"""Flows benchmark: runs of web call → split → text, next to a plain text engagement.

    .venv/bin/python -m bench.flows [--runs 10000] [--delay 0.05] [--latency-runs 20] [--naive 500]

In one run, against a customer's web service on loopback that answers each call after `--delay`
seconds (`bench/web_service.py`) and the Twilio sink, with 2 `campaign worker`s and the sender's
throughput at 10,000/s:
- the ceiling: raw asyncio GETs to the service on as many connections as the engine may hold
  open (2 workers x CAMPAIGN_WEB_CALL_CONCURRENCY);
- the plain text engagement: N texts, texts/s from the PATCH to the last text at the sink;
- the flow: N envelopes through a web call (`GET /orders/{{order-id}}`), a split on the answer's
  `status` and one of two texts, runs/s from the PATCH to the last text, every run's text
  exactly once and the one its category names, no call made twice;
- latency: one envelope POSTed to a live triggered engagement to its text at the sink (a text
  entry, and a web call then a text), the median of small sequential runs;
- the naive design: one forking RQ job per run (a blocking GET, then the POST).
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

import orjson

from bench.api import Api
from bench.dispatch import SENDER, prepare, schedule, text_statuses, wait_completed
from bench.naive import naive_flows
from bench.recipients import TEMPLATE_BODY, Recipient, envelope_documents, recipients
from bench.report import Report, bench_main, ratio
from bench.stack import Stack
from bench.web_service import WebService, get_ceiling

SHIPPED = "Hi {{first-name}}, order {{order-id}} has shipped. Reply STOP to opt out."
WAITING = "Hi {{first-name}}, order {{order-id}} is {{status}}. Reply STOP to opt out."


def with_orders(items: list[Recipient], first: int) -> list[Recipient]:
    """The recipients with an `order-id` in their meta (even ids are shipped)."""
    return [
        Recipient(item.raw, item.e164, {**item.meta, "order-id": str(first + index)})
        for index, item in enumerate(items)
    ]


def order_flow(api: Api, service: WebService, phone: str, name: str, **attributes: Any) -> str:
    """Web call → split on `status` → a text per category; the engagement."""
    engagement = api.create("engagements", {"name": name, "direction": "outbound", **attributes})
    relationship = {"engagement": ("engagements", engagement)}
    lookup = api.create(
        "activities",
        {
            "name": "Order status",
            "kind": "web-call",
            "url": f"{service.url}/orders/{{{{order-id}}}}",
            "timeout": 10,
            "response-variables": [{"name": "status", "query": "status"}],
        },
        relationship,
    )
    split = api.create(
        "activities",
        {
            "name": "By status",
            "kind": "split",
            "variable": "status",
            "rules": [{"category": "Shipped", "test": "equals", "arguments": ["shipped"]}],
        },
        relationship,
    )
    shipped = api.text_activity(engagement, "Shipped", SHIPPED, phone)
    waiting = api.text_activity(engagement, "Waiting", WAITING, phone)
    _trigger(api, lookup, split, "web-call-success")
    _trigger(api, split, shipped, "split", "Shipped")
    _trigger(api, split, waiting, "split", "Other")
    return engagement


def _trigger(api: Api, source: str, target: str, event: str, category: str | None = None) -> str:
    attributes: dict[str, Any] = {"kind": "activity", "on-event": event}
    if category:
        attributes["category"] = category
    return api.create(
        "triggers",
        attributes,
        {"activity": ("activities", source), "next-activity": ("activities", target)},
    )


def upload(api: Api, engagement: str, items: list[Recipient]) -> None:
    with api.client() as client:
        for document in envelope_documents(engagement, items, 10_000):
            api.upload(client, document)


def runs_exited(stack: Stack, engagement: str) -> dict[str, int]:
    with stack.database_connection() as connection:
        return dict(
            connection.execute(
                "SELECT coalesce(exit_type, 'running'), count(*) FROM envelopes "
                "WHERE engagement_id = %s GROUP BY 1",
                (engagement,),
            ).fetchall()
        )


def wait_exited(stack: Stack, engagement: str, timeout: float) -> float | None:
    """Monotonic time every run was seen exited, or None after `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if runs_exited(stack, engagement).get("running", 0) == 0:
            return time.monotonic()
        time.sleep(0.1)
    return None


def text_run(stack: Stack, api: Api, phone: str, items: list[Recipient]) -> dict[str, Any]:
    engagement = prepare(api, phone, items, "texts")
    stack.sink.reset()
    patched = schedule(api, engagement)
    received = stack.sink.wait_for(len(items), timeout=600)
    stats = stack.sink.stats(full=True)
    wait_completed(stack, engagement, 120)
    return {
        "received": received,
        "duplicates": stats["duplicates"],
        "seconds": stats["last"] - patched if stats["last"] else float("nan"),
    }


def flow_run(
    stack: Stack, api: Api, service: WebService, phone: str, items: list[Recipient]
) -> dict[str, Any]:
    engagement = order_flow(api, service, phone, "flow")
    upload(api, engagement, items)
    stack.sink.reset()
    service.reset()
    patched = schedule(api, engagement)
    received = stack.sink.wait_for(len(items), timeout=900)
    stats = stack.sink.stats(full=True, numbers=True)
    exited = wait_exited(stack, engagement, 120)
    calls = service.stats()
    expected = {item.e164 for item in items}
    got = stats.pop("numbers")
    return {
        "received": received,
        "missing": len(expected - set(got)),
        "duplicates": stats["duplicates"],
        "seconds": stats["last"] - patched if stats["last"] else float("nan"),
        "first_call_after": calls["first"] - patched if calls["first"] else float("nan"),
        "calls_seconds": calls["last"] - patched if calls["last"] else float("nan"),
        "exited_after": exited - patched if exited else None,
        "calls": calls,
        "statuses": text_statuses(stack, engagement),
        "exits": runs_exited(stack, engagement),
        "categories": _categories(stack, engagement),
        "wrong_text": _wrong_texts(stack, engagement),
    }


def _categories(stack: Stack, engagement: str) -> dict[str, int]:
    with stack.database_connection() as connection:
        return dict(
            connection.execute(
                "SELECT \"values\"->'By status'->>'value', count(*) FROM envelopes "
                "WHERE engagement_id = %s GROUP BY 1",
                (engagement,),
            ).fetchall()
        )


def _wrong_texts(stack: Stack, engagement: str) -> int:
    """Texts whose body is not the one the order's parity (the service's answer) names."""
    with stack.database_connection() as connection:
        return connection.execute(
            "SELECT count(*) FROM texts t JOIN envelopes e ON e.id = t.envelope_id "
            "WHERE t.engagement_id = %s AND (t.body LIKE '%%has shipped%%') "
            "<> ((e.meta->>'order-id')::int %% 2 = 0)",
            (engagement,),
        ).fetchone()[0]


def triggered_latency(
    stack: Stack, api: Api, engagement: str, items: list[Recipient]
) -> list[float]:
    """Seconds from each envelope's POST to its text at the sink, one envelope at a time."""
    latencies = []
    with api.client() as client:
        for item in items:
            before = stack.sink.stats()["count"]
            body = orjson.dumps(
                {
                    "data": {
                        "type": "envelopes",
                        "attributes": {"phone-number": item.raw, "meta": item.meta},
                        "relationships": {
                            "engagement": {"data": {"type": "engagements", "id": engagement}}
                        },
                    }
                }
            )
            posted = time.monotonic()
            response = client.post("/api/v1/envelopes", content=body)
            if response.status_code != 201:
                raise RuntimeError(f"POST envelope: {response.status_code} {response.text[:500]}")
            stack.sink.wait_for(before + 1, timeout=30)
            last = stack.sink.stats()["last"]
            latencies.append(last - posted if last else float("nan"))
            time.sleep(0.2)
    return latencies


def run(args: argparse.Namespace) -> Report:
    concurrency = args.web_call_concurrency
    report = Report(
        f"Flows: {args.runs:,} runs of web call → split → text (service answering in "
        f"{args.delay * 1000:.0f} ms) next to {args.runs:,} plain texts; 2 campaign workers, "
        f"CAMPAIGN_WEB_CALL_CONCURRENCY={concurrency}, Twilio API on a loopback sink"
    )
    items = recipients(2 * args.runs + 2 * args.latency_runs + args.naive, seed=args.seed)
    texts_items = items[: args.runs]
    flow_items = with_orders(items[args.runs : 2 * args.runs], 0)
    rest = items[2 * args.runs :]
    latency_text = rest[: args.latency_runs]
    latency_call = with_orders(rest[args.latency_runs : 2 * args.latency_runs], 0)
    naive_items = rest[2 * args.latency_runs :]
    with WebService(args.delay) as service:
        settings = {
            "CAMPAIGN_WEB_CALL_ALLOW_HOSTS": service.host,
            "CAMPAIGN_WEB_CALL_CONCURRENCY": str(concurrency),
        }
        with Stack(keep_logs=args.keep_logs, settings=settings) as stack:
            api = Api.for_new_account(stack)
            phone = api.phone_number(SENDER, 10_000)
            paths = [f"/orders/{index}" for index in range(args.runs)]
            ceiling_seconds, ceiling_ok = get_ceiling(service.url, paths, 2 * concurrency)
            texts = text_run(stack, api, phone, texts_items)
            flows = flow_run(stack, api, service, phone, flow_items)

            entry_text = api.create(
                "engagements",
                {"name": "triggered text", "direction": "outbound", "delivery-type": "triggered"},
            )
            api.text_activity(entry_text, "Hello", TEMPLATE_BODY, phone)
            schedule(api, entry_text, "triggered")
            entry_call = order_flow(
                api, service, phone, "triggered flow", **{"delivery-type": "triggered"}
            )
            schedule(api, entry_call, "triggered")
            time.sleep(1)
            text_latencies = triggered_latency(stack, api, entry_text, latency_text)
            call_latencies = triggered_latency(stack, api, entry_call, latency_call)

            orders = [
                (f"{service.url}/orders/{index}", item) for index, item in enumerate(naive_items)
            ]
            bodies = {
                "shipped": "Hi, your order has shipped.",
                "Other": "Hi, your order is on its way soon.",
            }
            naive = (
                naive_flows(stack, orders, SENDER, bodies, timeout=args.timeout)
                if naive_items
                else None
            )

    ceiling_rate = len(paths) / ceiling_seconds
    text_rate = args.runs / texts["seconds"]
    run_rate = args.runs / flows["seconds"]
    once = (
        flows["received"] == args.runs
        and flows["missing"] == 0
        and flows["duplicates"] == 0
        and flows["wrong_text"] == 0
        and flows["calls"]["repeated_keys"] == 0
    )
    report.add("flow", "texts at the sink", flows["received"], "", f"= {args.runs:,}")
    report.add(
        "flow",
        "each run's text exactly once, the one its category names",
        "yes" if once else "NO",
        "",
        "yes",
    )
    report.add("flow", "runs/s (PATCH to last text at the sink)", run_rate, "runs/s", ">= 1,000")
    report.add("flow", "elapsed (PATCH to last text)", flows["seconds"], "s")
    report.add("flow", "PATCH to first web call answered", flows["first_call_after"] * 1000, "ms")
    report.add("flow", "PATCH to last web call answered", flows["calls_seconds"], "s")
    report.add("flow", "web calls in flight at once (most)", flows["calls"]["most_in_flight"], "")
    if flows["exited_after"] is not None:
        report.add("flow", "PATCH to every run exited (seen)", flows["exited_after"], "s")
    report.add("flow", "runs by exit type", flows["exits"], "")
    report.add("flow", "runs by split category", flows["categories"], "")
    report.add("texts", "plain text engagement, texts/s", text_rate, "texts/s")
    report.add(
        "texts", "every text exactly once", "yes" if texts["duplicates"] == 0 else "NO", "", "yes"
    )
    report.add("ratio", "flow runs/s / plain texts/s", ratio(run_rate, text_rate), "", ">= 0.30")
    report.add(
        "ceiling",
        f"raw asyncio GETs to the service, {2 * concurrency} connections ({len(paths):,})",
        ceiling_rate,
        "req/s",
    )
    report.add("ratio", "flow runs/s / web-call ceiling", ratio(run_rate, ceiling_rate), "")
    for label, latencies in (("text entry", text_latencies), ("web call → text", call_latencies)):
        report.add(
            "latency",
            f"triggered POST to text at the sink, {label}, median of {len(latencies)}",
            statistics.median(latencies) * 1000,
            "ms",
            "<= 300",
        )
        report.add("latency", f"triggered POST to text, {label}, max", max(latencies) * 1000, "ms")
    if naive is not None:
        naive_rate = naive["count"] / naive["seconds"]
        report.add(
            "naive",
            f"one forking RQ job per run, 2 rq workers ({len(naive_items):,})",
            naive_rate,
            "runs/s",
        )
        report.add("ratio", "engine / naive", ratio(run_rate, naive_rate), "x")
    report.details.update(
        args=vars(args),
        flows=flows,
        texts=texts,
        ceiling_ok=ceiling_ok,
        text_latencies=text_latencies,
        call_latencies=call_latencies,
        naive=naive,
    )
    return report


def arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--runs", type=int, default=10_000, help="runs, and plain texts")
    parser.add_argument("--delay", type=float, default=0.05, help="the service's answer delay, s")
    parser.add_argument(
        "--web-call-concurrency",
        type=int,
        default=200,
        help="CAMPAIGN_WEB_CALL_CONCURRENCY for the workers (calls to one host per worker)",
    )
    parser.add_argument(
        "--latency-runs", type=int, default=20, help="envelopes POSTed one by one per latency"
    )
    parser.add_argument(
        "--naive", type=int, default=500, help="runs for the naive baseline (0: skip)"
    )
    parser.add_argument("--timeout", type=float, default=600, help="longest wait, in seconds")


def main() -> None:
    bench_main("python -m bench.flows", __doc__, arguments, run)


if __name__ == "__main__":
    main()
