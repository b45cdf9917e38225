"""Google's failures (gspread, requests, google-auth) told as the mirror port's exceptions."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import google.auth.exceptions
import requests
from gspread.exceptions import APIError

from service.domain.ports import MirrorMisconfigured, MirrorUnavailable


def scrub(message: str, limit: int = 300) -> str:
    """Shorten an error message from Google and blank anything quoted in it (it may be a value)."""
    message = re.sub(r'"[^"]*"', '"…"', message)
    message = re.sub(r"'[^']*'", "'…'", message)
    return message[:limit]


@dataclass(frozen=True)
class SheetTarget:
    """What an explanation names: the spreadsheet, the tab, the account and the attempts."""

    spreadsheet_id: str
    worksheet_title: str
    account: str
    attempts: int


def explain(err: APIError, target: SheetTarget) -> Exception:
    """Return the port's exception for an API error, with what a person should do about it."""
    code = err.response.status_code
    status = str(err.error.get("status", ""))
    message = str(err.error.get("message", ""))
    sheet = target.spreadsheet_id
    if code == 429 or code >= 500:
        return MirrorUnavailable(
            f"Google Sheets answered {code} {status} after {target.attempts} "
            "attempts; the next pass catches up"
        )
    if code == 404:
        return MirrorMisconfigured(f"no spreadsheet with id {sheet}: check CONSENT_SPREADSHEET_ID")
    if code == 403 and ("has not been used" in message or "disabled" in message):
        return MirrorMisconfigured(
            "enable the Google Sheets API in the service account's Google Cloud project "
            f"({scrub(message)})"
        )
    if code == 403 and "protected" in message:
        return MirrorMisconfigured(
            f"a protected range on the tab {target.worksheet_title!r} keeps {target.account} "
            "out: remove that protection or add the service account as its editor"
        )
    if code == 403:
        return MirrorMisconfigured(
            f"share the spreadsheet {sheet} with {target.account} as Editor "
            f"(Google answered 403 {status})"
        )
    if code == 401:
        return MirrorMisconfigured(
            f"Google does not accept the credentials of {target.account} (401 {status}); "
            "create a new key for the service account and update CONSENT_GOOGLE_CREDENTIALS"
        )
    if code == 400 and "above the limit" in message:
        return MirrorMisconfigured(
            f"the spreadsheet {sheet} is full ({scrub(message)}); "
            "move the register to a spreadsheet with room or delete unused tabs"
        )
    # A 400 is most often a race with a person editing the tab between our read and write.
    return MirrorUnavailable(
        f"Google Sheets refused a request ({code} {status}: {scrub(message)}); "
        "the next pass reads the tab again"
    )


def explain_refresh(err: google.auth.exceptions.RefreshError, account: str) -> Exception:
    """Return the port's exception for a token refresh that failed."""
    if err.retryable:
        return MirrorUnavailable(
            "Google's token endpoint is not answering; the next pass catches up"
        )
    first = err.args[0] if err.args else ""
    detail = str(first).splitlines()[0][:200] if first else type(err).__name__
    return MirrorMisconfigured(
        f"Google refused the key of {account} ({detail}): the key may be deleted or "
        "disabled; create a new key for the service account and update "
        "CONSENT_GOOGLE_CREDENTIALS"
    )


@contextlib.contextmanager
def google_failures(
    target: Callable[[], SheetTarget], on_refused: Callable[[], None]
) -> Iterator[None]:
    """Turn what gspread, requests and google-auth raise into the mirror port's errors.

    on_refused runs when Google refused a request as malformed (400): the tab most likely
    changed under the pass, so what the mirror remembers of it is stale.
    """
    try:
        yield
    except APIError as err:
        if err.response.status_code == 400:
            on_refused()
        raise explain(err, target()) from None
    except (requests.RequestException, google.auth.exceptions.TransportError) as err:
        raise MirrorUnavailable(
            f"Google Sheets out of reach ({type(err).__name__}); the next pass catches up"
        ) from None
    except google.auth.exceptions.RefreshError as err:
        raise explain_refresh(err, target().account) from None
