"""REDIS_URL over TLS: `rediss://` verifies the server's chain by default, and
CAMPAIGN_REDIS_TLS_VERIFY=none connects to a self-signed one (Heroku Redis). Against a real
`redis-server` on loopback serving TLS with a certificate from a CA nobody trusts."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import trustme

from campaign import create_app
from campaign.config import redis_url
from campaign.extensions import redis_store
from tests.servers import free_port


@pytest.mark.parametrize(
    ("url", "verify", "expected"),
    [
        ("redis://h:6379/0", "none", "redis://h:6379/0"),
        ("rediss://:pw@h:6380", "none", "rediss://:pw@h:6380?ssl_cert_reqs=none"),
        ("rediss://h:6380/2", "required", "rediss://h:6380/2?ssl_cert_reqs=required"),
        (
            "rediss://h:6380?ssl_cert_reqs=optional",
            "none",
            "rediss://h:6380?ssl_cert_reqs=optional",
        ),
        (
            "rediss://h:6380?socket_timeout=3",
            "none",
            "rediss://h:6380?socket_timeout=3&ssl_cert_reqs=none",
        ),
        ("unix:///tmp/r.sock", "none", "unix:///tmp/r.sock"),
    ],
)
def test_the_verification_mode_rides_on_rediss_urls_only(
    url: str, verify: str, expected: str
) -> None:
    assert redis_url(url, verify) == expected


@pytest.fixture(scope="module")
def tls_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A `redis-server` speaking only TLS on a loopback port; yields its rediss:// URL."""
    server = shutil.which("redis-server")
    if server is None:
        if os.environ.get("CI"):
            pytest.fail("the TLS test needs redis-server (.ci/run starts one)")
        pytest.skip("redis-server is needed for the TLS test")
    folder = tmp_path_factory.mktemp("redis-tls")
    certificate = trustme.CA().issue_cert("127.0.0.1", "localhost")
    certificate.private_key_pem.write_to_path(str(folder / "key.pem"))
    certificate.cert_chain_pems[0].write_to_path(str(folder / "cert.pem"))
    port = free_port()
    tls = ["--tls-port", str(port), "--tls-auth-clients", "no"]
    keys = ["--tls-cert-file", str(folder / "cert.pem"), "--tls-key-file", str(folder / "key.pem")]
    process = subprocess.Popen(
        [
            server,
            "--port",
            "0",
            *tls,
            *keys,
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(folder),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    url = f"rediss://127.0.0.1:{port}/0"
    try:
        deadline = time.monotonic() + 10
        while True:
            assert process.poll() is None, "redis-server did not start with TLS"
            try:
                redis.Redis.from_url(url, ssl_cert_reqs="none").ping()
                break
            except redis.ConnectionError:
                assert time.monotonic() < deadline, "redis-server did not answer over TLS"
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


def _app_redis(url: str, tmp_path: Path, **settings: str) -> redis.Redis:
    app = create_app(
        {"REDIS_URL": url, "DATABASE_URL": f"sqlite:///{tmp_path}/db", **settings}
        | {"CAMPAIGN_INSTANCE_PATH": str(tmp_path)}
    )
    with app.app_context():
        return redis_store.connection


def test_a_self_signed_chain_is_refused_by_default(tls_redis: str, tmp_path: Path) -> None:
    with pytest.raises(redis.ConnectionError, match="certificate verify failed"):
        _app_redis(tls_redis, tmp_path).ping()


def test_verify_none_connects_over_tls_to_a_self_signed_chain(
    tls_redis: str, tmp_path: Path
) -> None:
    connection = _app_redis(tls_redis, tmp_path, CAMPAIGN_REDIS_TLS_VERIFY="none")

    assert connection.ping()
    assert connection.connection_pool.connection_class.__name__ == "SSLConnection"
