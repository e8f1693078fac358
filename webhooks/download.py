"""Guarded downloads of customers' attachments from URLs a webhook named.

A signed webhook still carries URLs we did not choose (a Twilio MediaUrl, a Messenger
attachment or shared link, the media URL Graph answers), so every channel's ``fetch``
downloads through ``Downloader.get``, which:

- refuses hosts that resolve to a private, loopback, link-local or otherwise non-public
  address. The check runs where the connection is made (``_GuardedBackend``): the name is
  resolved once, every address it resolves to is checked, and the socket is connected to
  a checked address, so a DNS answer that changes between a check and the connect (DNS
  rebinding) cannot slip an internal address in. Exempt: the origins of the configured
  provider API bases (INBOX_*_API_BASE, where tests and staging run stand-ins) and
  INBOX_PRIVATE_MEDIA_ORIGINS;
- follows redirects itself (at most ``MAX_REDIRECTS``), so each hop is checked again, and
  sends the provider's credentials only on hops the channel names as its own API
  (``credentials``): Twilio's media URL redirects to a CDN that must not get them;
- streams the body and stops reading past ``max_bytes``, so a huge file costs at most the
  cap in memory, never its size.

The proxy environment (HTTP(S)_PROXY) is not used: a proxy would make the connection, and
the address check with it, somewhere else.
"""

from __future__ import annotations

import asyncio
import importlib.util
import socket
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import httpcore
import httpx

from inbox.config import Settings
from inbox.domain.addresses import internal
from inbox.domain.channels import ProviderRejected, ProviderUnavailable, SendError
from inbox.storage.media import normalise_type
from webhooks.http import tls, unreachable

if importlib.util.find_spec("sniffio") is None:
    # httpcore imports sniffio on every request to tell asyncio from trio; where it is not
    # installed, each failed import searches the whole sys.path again (about a sixth of an
    # outbound webhook's CPU, bench/webhooks.py). Remembered missing once, the import fails
    # at once, and httpcore takes asyncio as it does then anyway.
    sys.modules["sniffio"] = None  # type: ignore[assignment]

MAX_REDIRECTS = 5
REDIRECTS = frozenset({301, 302, 303, 307, 308})

# Which headers a hop carries: the channel's credentials for its own API, {} elsewhere.
Credentials = Callable[[httpx.URL], Mapping[str, str]]


def no_credentials(url: httpx.URL) -> Mapping[str, str]:
    return {}


def origin(url: str | httpx.URL) -> tuple[str, str, int]:
    """(scheme, host, port) with the scheme's default port filled in."""
    u = httpx.URL(url) if isinstance(url, str) else url
    port = u.port or (443 if u.scheme == "https" else 80)
    return u.scheme, u.host.lower(), port


def for_origins(origins: Iterable[str], headers: Mapping[str, str]) -> Credentials:
    """``headers`` on a hop to one of ``origins`` (e.g. the configured API base), none elsewhere."""
    allowed = {origin(o) for o in origins if o}
    return lambda url: headers if origin(url) in allowed else {}


@dataclass(frozen=True, slots=True)
class Download:
    content: bytes
    content_type: str  # the answer's, normalised ("" when it named none)


class AddressRefused(Exception):
    """A host resolved to an address downloads may not reach."""


class _Coalesced(httpcore.AsyncNetworkStream):
    """Holds what is written until the first read, then sends it in one go: httpcore writes
    a request's head and its body apart, and in this sandbox each send is a costly system
    call (a fifth of an outbound webhook's CPU, bench/webhooks.py). A request is always
    written whole before its answer is read, so nothing waits longer than it did."""

    def __init__(self, inner: httpcore.AsyncNetworkStream) -> None:
        self.inner = inner
        self.pending: list[bytes] = []

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self.pending.append(buffer)

    async def _flush(self, timeout: float | None) -> None:
        if self.pending:
            data, self.pending = b"".join(self.pending), []
            await self.inner.write(data, timeout)

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        await self._flush(timeout)
        return await self.inner.read(max_bytes, timeout)

    async def aclose(self) -> None:
        self.pending = []
        await self.inner.aclose()

    async def start_tls(self, ssl_context: Any, server_hostname: str | None = None,
                        timeout: float | None = None) -> httpcore.AsyncNetworkStream:
        await self._flush(timeout)
        return _Coalesced(await self.inner.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> Any:
        return self.inner.get_extra_info(info)


class _GuardedBackend(httpcore.AsyncNetworkBackend):
    """Resolves, checks every address, and connects to a checked one (its writes coalesced)."""

    def __init__(self, exempt: set[tuple[str, int]], *, guard: bool = True) -> None:
        self.exempt = exempt  # (host, port) of origins that may be internal
        self.guard = guard  # False: every address may be reached (a deployment that allows it)
        self.inner = httpcore.AnyIOBackend()

    async def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                          local_address: str | None = None,
                          socket_options: Iterable[Any] | None = None) -> httpcore.AsyncNetworkStream:
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except socket.gaierror as exc:
            raise httpcore.ConnectError(f"cannot resolve {host}: {exc.strerror}") from None
        addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
        if self.guard and (host.lower(), port) not in self.exempt:
            refused = [a for a in addresses if internal(a)]
            if refused or not addresses:
                raise AddressRefused(f"{host} resolves to {refused[0] if refused else 'no address'}, "
                                     "a private or local address")
        last: Exception | None = None
        for address in addresses:
            try:
                return _Coalesced(await self.inner.connect_tcp(address, port, timeout=timeout,
                                                               local_address=local_address,
                                                               socket_options=socket_options))
            except httpcore.ConnectError as exc:
                last = exc
        assert last is not None
        raise last

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


class _GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's own transport on our network backend. httpx 0.28 has no option for the
    backend, so its pool is built again the same way, with ours."""

    def __init__(self, backend: _GuardedBackend) -> None:
        super().__init__(verify=tls(), trust_env=False)
        self._pool = httpcore.AsyncConnectionPool(ssl_context=tls(), network_backend=backend,
                                                  max_connections=20, max_keepalive_connections=5,
                                                  keepalive_expiry=5.0)


def guarded_transport(exempt: set[tuple[str, int]], *, guard: bool = True) -> httpx.AsyncHTTPTransport:
    """A transport that reaches no internal address but the ``exempt`` (host, port) pairs
    (none of that checked when not ``guard``), with no proxy. Alone it follows no redirect."""
    return _GuardedTransport(_GuardedBackend(exempt, guard=guard))


def guarded_client(exempt: set[tuple[str, int]], timeout: float) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=guarded_transport(exempt), timeout=timeout, follow_redirects=False,
                             trust_env=False, verify=tls())


class Downloader:
    def __init__(self, exempt_origins: Iterable[str], max_bytes: int, timeout: float) -> None:
        self.max_bytes = max_bytes
        self.timeout = timeout
        self.exempt = {(h, p) for _, h, p in (origin(o) for o in exempt_origins if o)}
        self._client: httpx.AsyncClient | None = None

    @property
    def client(self) -> httpx.AsyncClient:
        # Made on first use: its TLS context costs ~0.1 s, and most processes that build
        # the adapters (the CLI, web-only processes) never download anything.
        if self._client is None:
            self._client = guarded_client(self.exempt, self.timeout)
        return self._client

    async def get(self, url: str, who: str, credentials: Credentials = no_credentials) -> Download:
        """The body at ``url`` (``who`` names the provider in reasons shown to the agent).
        SendError (ProviderRejected or ProviderUnavailable) with a clear reason otherwise."""
        current = _checked_url(url)
        for _ in range(MAX_REDIRECTS + 1):
            # identity: a compressed body would be inflated past the cap within one chunk
            headers = {"accept-encoding": "identity", **credentials(current)}
            request = self.client.build_request("GET", current, headers=headers)
            try:
                response = await self.client.send(request, stream=True)
                try:
                    if response.status_code in REDIRECTS and "location" in response.headers:
                        current = _checked_url(str(current.join(response.headers["location"])))
                        continue
                    return await self._body(response, who)
                finally:
                    await response.aclose()
            except AddressRefused as exc:
                raise ProviderRejected("blocked_address", f"not downloaded: {exc}") from None
            except (httpx.HTTPError, OSError) as exc:
                raise unreachable(exc, who, self.timeout) from None
        raise ProviderRejected("too_many_redirects", f"{who}'s media URL redirected more than {MAX_REDIRECTS} times")

    async def _body(self, response: httpx.Response, who: str) -> Download:
        status = response.status_code
        if status == 429 or status >= 500:
            raise ProviderUnavailable(str(status), f"{who}'s media server answered {status}")
        if status != 200:
            raise ProviderRejected(str(status), f"{who} refused the media download ({status})")
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            raise _too_large(self.max_bytes, int(declared))
        content = bytearray()
        async for chunk in response.aiter_bytes():
            content += chunk
            if len(content) > self.max_bytes:
                raise _too_large(self.max_bytes)
        return Download(bytes(content), normalise_type(response.headers.get("content-type", "")))

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None


def _checked_url(url: str) -> httpx.URL:
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError):
        raise ProviderRejected("bad_url", "the attachment's URL is not a valid URL") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise ProviderRejected("bad_url", "the attachment's URL is not an http(s) URL")
    return parsed


def _too_large(limit: int, size: int | None = None) -> SendError:
    what = f"file of {size:,} bytes" if size is not None else "file"
    return ProviderRejected("too_large", f"{what} over the {limit:,}-byte limit: download stopped")


def exempt_origins(settings: Settings) -> list[str]:
    """Origins downloads may reach on internal addresses: the provider API bases, where
    tests and staging run stand-ins, and those an admin lists (INBOX_PRIVATE_MEDIA_ORIGINS)."""
    listed = [o.strip() for o in settings.private_media_origins.split(",") if o.strip()]
    return [settings.twilio_api_base, settings.graph_api_base, settings.telegram_api_base, *listed]


def make_downloader(settings: Settings) -> Downloader:
    # A whole download (every hop and the body) is bounded by the delivery worker's timeout.
    return Downloader(exempt_origins(settings), settings.max_media_bytes, settings.send_timeout_seconds)

