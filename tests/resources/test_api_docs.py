"""/api/docs in a real headless browser (Debian's chromium) that can reach nothing but loopback:
Swagger UI renders the API from files the service serves itself, so the page works offline."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile

import pytest
from flask import Flask

from tests.servers import serve

# Every host name but loopback fails to resolve: a CDN could not be reached if one were named.
OFFLINE = "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("the /api/docs test needs Debian's chromium (.ci/run installs it)")
        pytest.skip("chromium is needed to render /api/docs")
    return found


def _rendered(url: str) -> str:
    """The page's DOM once its scripts have run (up to 20 s of the page's own clock)."""
    with tempfile.TemporaryDirectory(prefix="cmp-chromium-") as profile:
        completed = subprocess.run(
            [
                _chromium(),
                "--headless",
                "--no-sandbox",  # CI runs as root
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                f"--user-data-dir={profile}",
                OFFLINE,
                "--virtual-time-budget=20000",
                "--dump-dom",
                url,
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert completed.returncode == 0, completed.stderr
    return completed.stdout


def test_swagger_ui_renders_the_api_offline(app: Flask) -> None:
    with serve(app) as base_url:
        dom = _rendered(f"{base_url}/api/docs")

    assert "/api/docs/assets/swagger-ui-bundle.js" in dom
    assert "cdn." not in dom and "https://" not in dom.split("swagger-ui-container")[0]
    # Rendered by Swagger UI's scripts, not just the page's skeleton: the operations are there.
    assert 'class="swagger-ui' in dom
    for path in ("/api/v1/engagements", "/api/v1/envelopes", "/api/v1/texts"):
        assert f'data-path="{path}"' in dom, path


def test_the_assets_are_served_with_their_types(app: Flask) -> None:
    client = app.test_client()
    for name, mimetype in (
        ("swagger-ui-bundle.js", "text/javascript"),
        ("swagger-ui-standalone-preset.js", "text/javascript"),
        ("swagger-ui.css", "text/css"),
    ):
        reply = client.get(f"/api/docs/assets/{name}")
        assert reply.status_code == 200 and reply.mimetype == mimetype, name
        assert len(reply.data) > 10_000, name
