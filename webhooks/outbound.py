"""Outbound delivery over HTTP with requests: sign, POST, read the answer; no redirects.

The POST goes to an address the SSRF policy checked, not to whatever the host name resolves to
at connect time; TLS still sends the host name (SNI) and checks the certificate against it.
"""

from __future__ import annotations

import email.utils
import ipaddress
import socket
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import SplitResult, urlsplit, urlunsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3 import HTTPConnectionPool

from service.domain.webhooks_out.delivery import Reply, Unreachable
from webhooks import standard_webhooks

TIMEOUT_SECONDS = 15.0
USER_AGENT = "consent-register-webhooks/1"


def resolve_host(host: str) -> list[str]:
    """Return every address a host resolves to (empty when it does not)."""
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError):
        return []
    # The resolver's order (RFC 6724 preference) is the order the sender tries them in.
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def parse_retry_after(value: str | None, now: datetime) -> timedelta | None:
    """Read Retry-After as seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return timedelta(seconds=int(value))
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(when - now, timedelta(0))


class PinnedAddressAdapter(HTTPAdapter):
    """Connect to the address in the URL while TLS names the real host (SNI and certificate).

    Never through a proxy: a proxy would resolve the host name again itself.
    """

    def __init__(self, server_hostname: str) -> None:
        """Remember the host name TLS must present and verify; never retry on its own."""
        self.server_hostname = server_hostname
        super().__init__(max_retries=0)

    def get_connection_with_tls_context(
        self, request: requests.PreparedRequest, verify: bool | str | None,
        proxies: Mapping[str, str] | None = None, cert: Any = None,
    ) -> HTTPConnectionPool:
        """Return a pool for the URL's address whose TLS checks the host name, not the address."""
        host_params, pool_kwargs = self.build_connection_pool_key_attributes(
            request, True if verify is None else verify, cert)
        settings: dict[str, Any] = dict(pool_kwargs)
        if host_params["scheme"] == "https":
            settings["server_hostname"] = self.server_hostname
            settings["assert_hostname"] = self.server_hostname
        pool: HTTPConnectionPool = self.poolmanager.connection_from_host(
            host_params["host"], host_params["port"], host_params["scheme"],
            pool_kwargs=settings,
        )
        return pool


def _ascii_host(host: str) -> str:
    """Return the host as TLS and the Host header carry it (IDNA; an IP literal unchanged)."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return host.encode("idna").decode("ascii")
    return host


def _url_at(parts: SplitResult, address: str, port: int) -> str:
    """Return the URL with the checked address (and an explicit port) in place of the host."""
    literal = address.replace("%", "%25")  # an IPv6 zone id, as a URL must carry it
    netloc = f"[{literal}]:{port}" if ":" in address else f"{literal}:{port}"
    return urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))


class RequestsSender:
    """POST signed deliveries with requests and a timeout, to checked addresses only.

    No proxy from the environment is used: a proxy would resolve the host name again itself.
    """

    def __init__(self, timeout: float = TIMEOUT_SECONDS, *, verify: bool | str = True) -> None:
        """Remember the timeout (connect and read) and the TLS trust (a CA bundle in tests)."""
        self.timeout = timeout
        self.verify = verify

    def send(self, url: str, message_id: str, timestamp: int, body: bytes,
             secrets: Sequence[str], *, addresses: Sequence[str]) -> Reply:
        """POST one delivery; a 3xx is an answer like any other non-2xx (never followed)."""
        parts = urlsplit(url)
        try:
            host = _ascii_host(parts.hostname or "")
        except UnicodeError:
            raise Unreachable("the host name cannot be encoded for DNS") from None
        default_port = 443 if parts.scheme == "https" else 80
        port = parts.port or default_port
        shown_host = f"[{host}]" if ":" in host else host
        headers = standard_webhooks.headers(secrets, message_id, timestamp, body)
        headers["Content-Type"] = "application/json"
        headers["User-Agent"] = USER_AGENT
        headers["Host"] = shown_host if port == default_port else f"{shown_host}:{port}"
        failure = "no address to connect to"
        for address in addresses:
            request = requests.Request("POST", _url_at(parts, address, port), data=body,
                                       headers=headers).prepare()
            adapter = PinnedAddressAdapter(host)
            try:
                response = adapter.send(request, timeout=self.timeout, verify=self.verify,
                                        proxies={})
                with response:
                    return Reply(response.status_code, parse_retry_after(
                        response.headers.get("Retry-After"), datetime.now(UTC)))
            except requests.exceptions.SSLError:
                failure = "TLS failed (certificate or host name)"
            except requests.ConnectionError as exc:
                # Connect timeouts land here too: the next address may answer.
                failure = f"could not connect: {type(exc).__name__}"
            except requests.Timeout:
                raise Unreachable(f"no answer within {self.timeout:g} s") from None
            except requests.RequestException as exc:
                raise Unreachable(f"could not send: {type(exc).__name__}") from None
            finally:
                adapter.close()
        raise Unreachable(failure)

