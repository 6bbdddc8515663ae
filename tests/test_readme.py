"""The README's walk-throughs, run as a newcomer runs them: their `bash` blocks, verbatim, against
a real `campaign run` on the embedded defaults, twice (they must be re-runnable). The flows one
calls loopback stand-ins for the National Weather Service and a shop behind OAuth2."""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil
import pytest

from campaign.embedded_redis import stop_embedded_redis
from tests.servers import CAMPAIGN, embedded_environment, free_port
from tests.sinks.web_service import FORECAST, Answer, Seen, Server, json_answer

README = Path(__file__).resolve().parent.parent / "README.md"
WALKTHROUGH_SECTION = "## A first campaign"
FLOWS_SECTION = "## Flows: web calls, splits and runs started over the API"


def section_blocks(readme: str, heading: str) -> list[str]:
    """The ```bash blocks of the section under `heading`, in order."""
    start = readme.index(heading)
    end = readme.index("\n## ", start + 1)
    return re.findall(r"^```bash\n(.*?)^```$", readme[start:end], flags=re.S | re.M)


def walkthrough_blocks(readme: str) -> list[str]:
    """The ```bash blocks of the first walk-through, in order."""
    return section_blocks(readme, WALKTHROUGH_SECTION)


def flows_blocks(readme: str) -> list[str]:
    """The ```bash blocks of the flows walk-through, in order (it continues the first one's
    shell: its setup block comes first)."""
    return section_blocks(readme, FLOWS_SECTION)


def _stop_tree(process: subprocess.Popen[bytes]) -> None:
    """Ctrl-C as a user would, then make sure nothing of the tree is left."""
    try:
        tree = [process, *psutil.Process(process.pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        return
    os.killpg(process.pid, 2)
    _, alive = psutil.wait_procs([psutil.Process(p.pid) for p in tree], timeout=30)
    for leftover in alive:
        leftover.kill()


@contextmanager
def running_campaign(**settings: str) -> Iterator[tuple[dict[str, str], Path, Path]]:
    """A real `campaign run` on a free port with its own instance folder and `settings` in its
    environment; yields the walk-through's environment, its working directory (a `.venv` beside
    it, as in a checkout) and the log."""
    if shutil.which("curl") is None or shutil.which("jq") is None:
        if os.environ.get("CI"):
            pytest.fail("the README walk-through needs curl and jq")
        pytest.skip("curl and jq are needed to run the README walk-through")
    workdir = Path(tempfile.mkdtemp(prefix="cmp-readme-"))
    instance = tempfile.mkdtemp(prefix="cmp-")  # short: the embedded Redis socket lives here
    (workdir / ".venv").symlink_to(sys.prefix)
    port = free_port()
    env = embedded_environment(instance, port) | settings
    log_path = workdir / "campaign-run.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [CAMPAIGN, "run"],
            cwd=workdir,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, log_path.read_text()
            try:
                httpx.get(f"http://127.0.0.1:{port}/api/openapi.json", timeout=2)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, log_path.read_text()
                time.sleep(0.2)
        yield env, workdir, log_path
    finally:
        _stop_tree(process)
        stop_embedded_redis(instance)  # whatever `campaign run` left, whatever happened above
        shutil.rmtree(workdir, ignore_errors=True)
        shutil.rmtree(instance, ignore_errors=True)


@pytest.fixture
def campaign_run() -> Iterator[tuple[dict[str, str], Path, Path]]:
    """A real `campaign run` on the embedded defaults, as the first walk-through starts it."""
    with running_campaign() as running:
        yield running


def test_the_readme_names_its_walkthrough_blocks() -> None:
    blocks = walkthrough_blocks(README.read_text())
    assert len(blocks) == 3
    assert "campaign accounts create" in blocks[0]
    assert blocks[1].count("api ") >= 5


def test_the_flows_walkthrough_follows_the_first_one_and_names_its_blocks() -> None:
    readme = README.read_text()
    first = readme.index(WALKTHROUGH_SECTION)
    assert readme.index("\n## ", first + 1) + 1 == readme.index(FLOWS_SECTION)
    blocks = flows_blocks(readme)
    assert len(blocks) == 4
    assert "text_step()" in blocks[0] and "show_run()" in blocks[0]
    assert '"kind": "web-call"' in blocks[1] and "/test-requests" in blocks[2]
    assert '"kind": "split"' in blocks[3]


def test_the_walkthrough_sends_its_two_texts_and_can_be_run_again(
    campaign_run: tuple[dict[str, str], Path, Path],
) -> None:
    env, workdir, log_path = campaign_run
    script = "\n".join(walkthrough_blocks(README.read_text()))
    for run in (1, 2):
        result = subprocess.run(
            ["bash", "-c", script],
            cwd=workdir,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, (run, result.stdout, result.stderr)
        assert "curl:" not in result.stderr, (run, result.stderr)
        statuses = re.findall(r"^(\d{3}) (GET|POST|PATCH) ", result.stderr, flags=re.M)
        assert [status for status, method in statuses if method != "GET"] == [
            "201",
            "201",
            "201",
            "201",
            "202",
        ], (run, result.stderr)
        # The last five lines are the walk-through's own output; the CLI's come before them.
        lines = result.stdout.splitlines()[-5:]
        assert lines[:2] == ["2", "scheduled"], (run, result.stdout)
        texts = [json.loads(line) for line in lines[2:4]]
        assert sorted(text["to"] for text in texts) == ["+15197566220", "+19734390088"]
        assert {text["status"] for text in texts} == {"sent"}
        assert "Hello Alexander, text templates support variables." in {t["body"] for t in texts}
        assert json.loads(lines[4]) == {
            "status": "completed",
            "count-total": 2,
            "count-complete": 2,
        }, (run, result.stdout)
    log = log_path.read_text()
    assert log.count("Hello Alexander, text templates support variables.") == 2, log
    logged = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    for shown in readme_log_excerpt(README.read_text()):
        assert any(_matches(shown, line) for line in logged), (shown, log)


def readme_log_excerpt(readme: str) -> list[dict[str, str]]:
    """The walk-through's ```json block: the log lines it says the first shell shows."""
    start = readme.index(WALKTHROUGH_SECTION)
    [block] = re.findall(r"^```json\n(.*?)^```$", readme[start:], flags=re.S | re.M)[:1]
    return [json.loads(line) for line in block.splitlines()]


def _matches(shown: dict[str, str], line: dict[str, object]) -> bool:
    """`line` has every field `shown` has, with the same value where `shown` is not "..."."""
    return shown.keys() == line.keys() and all(
        value == "..." or line[key] == value for key, value in shown.items()
    )


# What the flows walk-through's loopback services expect: the README's token path and order, and
# the token they hand out (only the token URL knows it; the order answers nothing without it).
TOKEN_PATH = "/oauth/token"
ORDER_PATH = "/orders/1001"
ACCESS_TOKEN = "walk-through-access-token"


def _shop(seen: Seen) -> Answer:
    """The order-status sample's service: client-credentials tokens, then orders by bearer."""
    if (seen.method, seen.target) == ("POST", TOKEN_PATH):
        return json_answer(
            {"access_token": ACCESS_TOKEN, "token_type": "bearer", "expires_in": 3600}
        )
    if seen.headers.get("authorization") != f"Bearer {ACCESS_TOKEN}":
        return json_answer({"error": "unauthorized"}, 401)
    if (seen.method, seen.target) == ("GET", ORDER_PATH):
        return json_answer({"status": "shipped"})
    return json_answer({"error": "no such order"}, 404)


@dataclass(frozen=True)
class FlowsRun:
    """`campaign run` allowed to call two loopback services, and the walk-through's environment
    pointing the weather and order-status samples at them."""

    env: dict[str, str]
    workdir: Path
    log_path: Path
    weather: Server
    shop: Server


@pytest.fixture
def flows_run() -> Iterator[FlowsRun]:
    weather = Server(lambda seen: json_answer(FORECAST))
    shop = Server(_shop)
    try:
        allow = f"{weather.allow},{shop.allow}"
        with running_campaign(CAMPAIGN_WEB_CALL_ALLOW_HOSTS=allow) as (env, workdir, log_path):
            env = env | {
                "WEATHER_URL": weather.url("/gridpoints/MFL/109,62/forecast"),
                "ORDERS_URL": shop.url(""),
            }
            yield FlowsRun(env, workdir, log_path, weather, shop)
    finally:
        weather.close()
        shop.close()


# The requests of the flows walk-through that are not GETs, in order: the weather sample's
# engagement, web call, two text steps (a template and an activity each) and two triggers, the
# PATCH, the Test HTTP Request and the envelope; then the order status sample's engagement, web
# call, split, three text steps and four triggers, the PATCH and the envelope.
FLOWS_WRITES = [
    *["201"] * 8, "202", "200", "201",
    *["201"] * 13, "202", "201",
]  # fmt: skip
WEATHER_TEXT = (
    "Hi Alexander, it's currently 84 F with 14 mph winds. A chance of showers after 4pm. "
    "Mostly sunny."
)
SHIPPED_TEXT = "Good news: order 1001 has shipped."


def test_the_flows_walkthrough_runs_both_samples_and_can_be_run_again(
    flows_run: FlowsRun,
) -> None:
    readme = README.read_text()
    # The walk-through's own setup, the flows blocks, then the runs' ids for the checks below.
    script = "\n".join(
        [walkthrough_blocks(readme)[0], *flows_blocks(readme), 'echo "runs $RUN $ORDER_RUN"']
    )
    runs: list[tuple[str, str]] = []
    for run in (1, 2):
        result = subprocess.run(
            ["bash", "-c", script],
            cwd=flows_run.workdir,
            env=flows_run.env,
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert result.returncode == 0, (run, result.stdout, result.stderr)
        assert "curl:" not in result.stderr, (run, result.stderr)
        statuses = re.findall(r"^(\d{3}) (GET|POST|PATCH) ", result.stderr, flags=re.M)
        assert [status for status, method in statuses if method != "GET"] == FLOWS_WRITES, (
            run,
            result.stderr,
        )
        # The walk-through's own output is the last 13 lines; the CLI's come before them.
        lines = result.stdout.splitlines()[-13:]
        tested, weather_run, *weather_path, ended = lines[1:6]
        oauth2, order_run, *order_path = lines[7:12]
        assert (lines[0], lines[6]) == ("scheduled", "scheduled"), (run, result.stdout)
        assert json.loads(tested) == {
            "success": True,
            "status": 200,
            "variables": {
                "temp": "84",
                "winds": "14 mph",
                "forecast": "A chance of showers after 4pm. Mostly sunny.",
            },
        }, (run, result.stdout)
        assert json.loads(weather_run) == {
            "status": "completed",
            "exit-type": "completed",
            "values": json.loads(tested)["variables"],
        }, (run, result.stdout)
        assert [json.loads(line) for line in weather_path] == [
            {"step": 1, "event": "web-call-success", "status": 200},
            {"step": 2, "event": "text-sent"},
        ], (run, result.stdout)
        assert ended == "1", (run, result.stdout)
        assert json.loads(oauth2) == {
            "token-url": flows_run.shop.url(TOKEN_PATH),
            "client-id": "campaign",
            "scope": "orders:read",
        }, (run, result.stdout)
        assert json.loads(order_run) == {
            "status": "completed",
            "exit-type": "completed",
            "values": {"status": "shipped", "order-status": "Shipped"},
        }, (run, result.stdout)
        assert [json.loads(line)["event"] for line in order_path] == [
            "web-call-success",
            "split",
            "text-sent",
        ], (run, result.stdout)
        label, weather_id, order_id = lines[12].split(" ")
        assert label == "runs", (run, result.stdout)
        runs.append((weather_id, order_id))
    # The README shows the weather run's path as it printed.
    assert "\n".join(weather_path) in readme

    log = flows_run.log_path.read_text()
    assert log.count(f"SMS +15195550100 -> +15197566220: {WEATHER_TEXT}") == 2, log
    assert log.count(f"SMS +15195550100 -> +15197566220: {SHIPPED_TEXT}") == 2, log
    assert "s3cret" not in log

    # The weather service: a Test HTTP Request and a run's call per pass, each with the flow's
    # User-Agent; the runs' calls keyed by envelope and step.
    forecasts = flows_run.weather.seen
    assert {seen.headers["user-agent"] for seen in forecasts} == {
        "(campaign walk-through, ops@example.com)"
    }
    keys = [seen.headers["idempotency-key"] for seen in forecasts]
    assert [key for key in keys if not key.startswith("test:")] == [
        f"{weather_id}:1" for weather_id, _ in runs
    ]
    assert len(keys) == 4, keys
    # The shop: a client-credentials token for the client's Basic credentials, then each order
    # GET with it as the bearer, keyed by envelope and step.
    tokens = [seen for seen in flows_run.shop.seen if seen.target == TOKEN_PATH]
    assert tokens, flows_run.shop.seen
    credentials = base64.b64encode(b"campaign:s3cret").decode()
    for token in tokens:
        assert token.headers["authorization"] == f"Basic {credentials}", token
        assert b"grant_type=client_credentials" in token.body, token
    orders = [seen for seen in flows_run.shop.seen if seen.target != TOKEN_PATH]
    assert [(seen.method, seen.target) for seen in orders] == [("GET", ORDER_PATH)] * 2
    assert {seen.headers["authorization"] for seen in orders} == {f"Bearer {ACCESS_TOKEN}"}
    assert [seen.headers["idempotency-key"] for seen in orders] == [
        f"{order_id}:1" for _, order_id in runs
    ]
