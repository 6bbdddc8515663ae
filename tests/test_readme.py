"""The README's walk-through, run as a newcomer runs it: its `bash` blocks, verbatim, against a
real `campaign run` on the embedded defaults, twice (it must be re-runnable)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from campaign.embedded_redis import stop_embedded_redis
from tests.servers import CAMPAIGN, embedded_environment, free_port

README = Path(__file__).resolve().parent.parent / "README.md"
WALKTHROUGH_SECTION = "## A first campaign"


def walkthrough_blocks(readme: str) -> list[str]:
    """The ```bash blocks of the walk-through section, in order."""
    start = readme.index(WALKTHROUGH_SECTION)
    end = readme.index("\n## ", start + 1)
    return re.findall(r"^```bash\n(.*?)^```$", readme[start:end], flags=re.S | re.M)


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


@pytest.fixture
def campaign_run() -> Iterator[tuple[dict[str, str], Path, Path]]:
    """A real `campaign run` on a free port with its own instance folder; yields the walk-through's
    environment, its working directory (a `.venv` beside it, as in a checkout) and the log."""
    if shutil.which("curl") is None or shutil.which("jq") is None:
        if os.environ.get("CI"):
            pytest.fail("the README walk-through needs curl and jq")
        pytest.skip("curl and jq are needed to run the README walk-through")
    workdir = Path(tempfile.mkdtemp(prefix="cmp-readme-"))
    instance = tempfile.mkdtemp(prefix="cmp-")  # short: the embedded Redis socket lives here
    (workdir / ".venv").symlink_to(sys.prefix)
    port = free_port()
    env = embedded_environment(instance, port)
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


def test_the_readme_names_its_walkthrough_blocks() -> None:
    blocks = walkthrough_blocks(README.read_text())
    assert len(blocks) == 3
    assert "campaign accounts create" in blocks[0]
    assert blocks[1].count("api ") >= 5


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
