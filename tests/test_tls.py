"""HTTPS served directly (``http.tls_cert_file`` / ``http.tls_key_file``) and the client
address behind a reverse proxy (``http.trusted_proxies``): what clients moving from a
provider's ``https://`` address and IP allowlists depend on."""

from __future__ import annotations

import contextlib
from pathlib import Path

import httpx
import pytest

from tests.pki import Pki, make_pki
from tests.support import HTTP_TIMEOUT, free_port, running_gateway, until
from tests.system.procs import Processes, gateway_env
from textgate.config import Settings
from textgate.core.message import Status
from textgate.services.query import MessageFilter

NUMBER = "+33612345678"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


def _with_http(settings: Settings, **changes: object) -> Settings:
    return settings.model_copy(update={"http": settings.http.model_copy(update=changes)})


async def test_a_message_sent_over_https_is_stored(settings: Settings, pki: Pki) -> None:
    tls = _with_http(settings, tls_cert_file=pki.cert_file, tls_key_file=pki.key_file)
    async with running_gateway(tls, verify=pki.client_context()) as gw:
        assert gw.base_url.startswith("https://127.0.0.1:")
        accounts = gw.gateway.services.accounts
        account = await accounts.create("acme")
        auth = {"Authorization": f"Bearer {(await accounts.issue_key(account.id)).token}"}
        r = await gw.client.post(
            "/v1/messages", json={"to": NUMBER, "text": "over TLS"}, headers=auth
        )
        assert r.status_code == 202, r.text
        stored = await gw.gateway.services.messages.get(account.id, r.json()["messages"][0]["id"])
        assert stored.text == "over TLS" and stored.status is not Status.REJECTED
        # A client that does not trust the test CA is refused by its own TLS check, and a
        # plain-HTTP request to the TLS port gets no answer from the application.
        async with httpx.AsyncClient(base_url=gw.base_url, timeout=HTTP_TIMEOUT) as stranger:
            with pytest.raises(httpx.ConnectError):
                await stranger.get("/healthz")
        plain = gw.base_url.replace("https://", "http://")
        async with httpx.AsyncClient(base_url=plain, timeout=HTTP_TIMEOUT) as cleartext:
            with pytest.raises(httpx.TransportError):
                await cleartext.get("/healthz")


@pytest.mark.parametrize("trusted", [False, True], ids=["no proxy trusted", "proxy trusted"])
async def test_forwarded_addresses_count_only_from_trusted_proxies(
    settings: Settings, trusted: bool
) -> None:
    """An account allows one outside address; a request from 127.0.0.1 claiming it in
    X-Forwarded-For gets through only when 127.0.0.1 is a configured proxy."""
    proxies = ["127.0.0.0/8"] if trusted else []
    async with running_gateway(_with_http(settings, trusted_proxies=proxies)) as gw:
        accounts = gw.gateway.services.accounts
        account = await accounts.create("acme")
        await accounts.update_settings(account.id, {"allowed_ips": ["203.0.113.7"]})
        auth = {"Authorization": f"Bearer {(await accounts.issue_key(account.id)).token}"}
        r = await gw.client.post(
            "/v1/messages",
            json={"to": NUMBER, "text": "via proxy"},
            headers={**auth, "X-Forwarded-For": "203.0.113.7"},
        )
        stored = await gw.gateway.services.messages.search(account.id, MessageFilter())
        if trusted:
            assert r.status_code == 202, r.text
            assert [m.text for m in stored] == ["via proxy"]
        else:
            assert r.status_code == 403 and r.json()["error"]["code"] == "ip_not_allowed"
            assert stored == []


@pytest.mark.slow
async def test_textgate_serve_answers_over_https(db_url: str, tmp_path: Path, pki: Pki) -> None:
    port = free_port()
    env = gateway_env(
        db_url,
        tmp_path,
        {
            "TEXTGATE_HTTP__PORT": str(port),
            "TEXTGATE_HTTP__TLS_CERT_FILE": str(pki.cert_file),
            "TEXTGATE_HTTP__TLS_KEY_FILE": str(pki.key_file),
        },
    )
    async with Processes(tmp_path / "logs") as procs:
        server = await procs.start("serve", ["serve"], env)
        async with httpx.AsyncClient(
            base_url=f"https://127.0.0.1:{port}",
            timeout=HTTP_TIMEOUT,
            verify=pki.client_context(),
        ) as client:

            async def healthy() -> bool:
                assert server.returncode is None, server.log_tail()
                with contextlib.suppress(httpx.TransportError):
                    return (await client.get("/healthz")).status_code == 200
                return False

            await until(healthy, "the gateway to answer over HTTPS")
        assert await server.stop() == 0, server.log_tail()
