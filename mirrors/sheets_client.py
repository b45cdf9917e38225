"""The Sheets API's HTTP client: a base-URL override, request counting and bounded retries."""

from __future__ import annotations

import email.utils
import logging
import random as random_module
import time
from collections.abc import Callable, Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import google.auth.exceptions
import google.auth.transport.requests
import gspread
import requests
from gspread.exceptions import APIError
from gspread.http_client import FileType, ParamsType

# The mirror's logger name, so that operators' log filters keep working after the split.
log = logging.getLogger("mirrors.sheets")

GOOGLE_SHEETS_URL = "https://sheets.googleapis.com"


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded exponential backoff with full jitter."""

    max_attempts: int = 5
    base_wait: float = 1.0
    # Quotas refill per minute, so a 429 deserves longer waits than a passing 5xx.
    quota_base_wait: float = 4.0
    max_wait: float = 30.0

    def wait(self, attempt: int, *, quota: bool, draw: Callable[[], float]) -> float:
        """Return a full-jitter wait before attempt + 1."""
        base = self.quota_base_wait if quota else self.base_wait
        return draw() * min(self.max_wait, base * 2.0 ** (attempt - 1))


def retry_after_seconds(value: str | None) -> float | None:
    """Parse a Retry-After header (seconds or an HTTP date) into seconds from now."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _operation(method: str, url: str) -> str:
    """Name a request for logs without its range (a tab title is fine; values never appear)."""
    path = urlsplit(url).path
    if "/values" in path:
        tail = path.rsplit("/", 1)[-1]
        suffix = tail.rsplit(":", 1)[-1] if ":" in tail else ""
        return f"{method.upper()} values{':' + suffix if suffix else ''}"
    return f"{method.upper()} spreadsheet{':batchUpdate' if path.endswith(':batchUpdate') else ''}"


def _retry_class(method: str, url: str) -> str:
    """Tell which failures a request may be retried after: "any", "quota" or "never"."""
    method = method.upper()
    path = urlsplit(url).path
    if path.endswith(":append"):
        return "never"  # a retried append after a lost answer duplicates rows
    if method in ("GET", "PUT", "DELETE", "HEAD"):
        return "any"
    if path.endswith(("values:batchUpdate", "values:batchClear", ":clear")):
        return "any"  # fixed ranges: doing it twice leaves the same cells
    # Other POSTs (spreadsheet :batchUpdate adding tabs or protections) may have taken effect
    # before a 5xx or a timeout; a 429 is a refusal before any work, so that alone is retried.
    return "quota"


class SheetsHTTPClient(gspread.HTTPClient):
    """gspread's HTTP client with a base-URL override, request counting and bounded retries."""

    def __init__(self, auth: Any, session: requests.Session | None = None) -> None:
        super().__init__(auth, session)
        self.auth = auth  # gspread keeps it only when it builds the session itself
        self.api_base_url: str | None = None
        self.policy = RetryPolicy()
        self.sleep: Callable[[float], None] = time.sleep
        self.random: Callable[[], float] = random_module.random
        self.requests_sent = 0
        self.session.hooks.setdefault("response", []).append(self._count_response)

    def configure(
        self,
        *,
        api_base_url: str | None,
        policy: RetryPolicy,
        sleep: Callable[[float], None],
        random: Callable[[], float],
    ) -> None:
        """Set what gspread's two-argument constructor cannot pass."""
        self.api_base_url = api_base_url.rstrip("/") if api_base_url else None
        self.policy = policy
        self.sleep = sleep
        self.random = random

    def _count_response(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        # A hook sees every response, including google-auth's resend after a 401.
        self.requests_sent += 1

    def _rewrite(self, url: str) -> str:
        if self.api_base_url and url.startswith(GOOGLE_SHEETS_URL):
            return self.api_base_url + url[len(GOOGLE_SHEETS_URL) :]
        return url

    def request(
        self,
        method: str,
        endpoint: str,
        params: ParamsType | None = None,
        data: bytes | None = None,
        json: Mapping[str, Any] | None = None,
        files: FileType = None,
        headers: MutableMapping[str, str] | None = None,
    ) -> requests.Response:
        """Send one API request, retrying what is safe to retry, a bounded number of times."""
        url = self._rewrite(endpoint)
        allowed = _retry_class(method, url)
        attempt = 0
        while True:
            attempt += 1
            try:
                return super().request(
                    method, url, params=params, data=data, json=json, files=files, headers=headers
                )
            except APIError as err:
                code = err.response.status_code
                quota = code == 429
                if not ((quota and allowed != "never") or (code >= 500 and allowed == "any")):
                    raise
                if attempt >= self.policy.max_attempts:
                    raise
                wait = self.policy.wait(attempt, quota=quota, draw=self.random)
                told = retry_after_seconds(err.response.headers.get("Retry-After"))
                if told is not None:
                    if told > self.policy.max_wait:
                        raise  # the server asks for a longer pause than one pass should hold
                    wait = max(wait, told)
                reason = str(code)
            except (requests.ConnectionError, requests.Timeout) as err:
                self.requests_sent += 1  # sent (or tried), but no response reached the hook
                if allowed != "any" or attempt >= self.policy.max_attempts:
                    raise
                wait = self.policy.wait(attempt, quota=False, draw=self.random)
                reason = type(err).__name__
            except requests.exceptions.ChunkedEncodingError as err:
                if allowed != "any" or attempt >= self.policy.max_attempts:
                    raise
                wait = self.policy.wait(attempt, quota=False, draw=self.random)
                reason = type(err).__name__
            except google.auth.exceptions.TransportError as err:
                # The token endpoint was out of reach: nothing was sent to the Sheets API yet.
                if attempt >= self.policy.max_attempts:
                    raise
                wait = self.policy.wait(attempt, quota=False, draw=self.random)
                reason = type(err).__name__
            except google.auth.exceptions.RefreshError as err:
                if not err.retryable or attempt >= self.policy.max_attempts:
                    raise
                wait = self.policy.wait(attempt, quota=False, draw=self.random)
                reason = "token endpoint " + type(err).__name__
            wait = min(wait, self.policy.max_wait)
            log.warning(
                "Sheets API %s failed (%s); attempt %d of %d in %.1f s",
                _operation(method, url),
                reason,
                attempt + 1,
                self.policy.max_attempts,
                wait,
            )
            self.sleep(wait)


class PinnedAuthRequest(google.auth.transport.requests.Request):
    """google-auth's transport limited to given hosts.

    With an emulator standing in for Google, google-auth would still start its own lookups at
    Google (the "allowed locations" check at iamcredentials.googleapis.com, google-auth >= 2.50).
    Refusing every other host keeps such traffic on the machine; google-auth treats the refusal
    as a failed lookup and carries on.
    """

    def __init__(self, session: requests.Session, allowed_hosts: set[str]) -> None:
        super().__init__(session)
        self.allowed_hosts = frozenset(allowed_hosts)

    def __call__(self, url: str, method: str = "GET", *args: Any, **kwargs: Any) -> Any:
        host = urlsplit(url).netloc
        if host not in self.allowed_hosts:
            # google-auth leaves these unannotated.
            raise google.auth.exceptions.TransportError(  # type: ignore[no-untyped-call]
                f"not contacting {host}: the Sheets API URL is overridden"
            )
        return super().__call__(url, method, *args, **kwargs)  # type: ignore[no-untyped-call]
