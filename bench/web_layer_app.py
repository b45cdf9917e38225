"""The service's own web app with the use case's work replaced by the baseline's one statement.

A diagnostic for the speed goals of issues 2 and 3, not a second implementation:
`bench/optin.py --service-app web_layer_app:create_app()` and `bench/unsubscribe.py
--service-app web_layer_app:create_unsubscribe_app()` measure it in the service's place.

Opt-in: Everything a request goes
through before and after the use case is the real service's (gunicorn settings, Flask app with
all its blueprints, the per-IP rate limit, reading and validating the fields with
`optin.parse_opt_in`, security headers, the JSON answer); only `optin.request_opt_in`, which
records the opt-in (contact, event, evidence, subscription, confirmation mail, mirror pass), is
swapped for one INSERT of the submitted fields into the baseline's table. Its throughput is the
most the service could reach if recording an opt-in cost no more than the baseline's INSERT.

One-click unsubscribe: the same, with `unsubscribe.withdraw_by_link` (lock the contact and its
subscriptions, the withdrawn event and its evidence, the mirror pass, the webhooks, the undo
link) swapped for the service's own token check and the baseline's one UPDATE.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from baseline_app import INSERT
from baseline_unsubscribe import UPDATE
from flask import Flask

from service.domain import links, optin, unsubscribe
from service.domain.dependencies import Deps
from service.domain.uow import UnitOfWork
from service.web import create_app as create_service_app


def one_insert(uow: UnitOfWork, deps: Deps, form: optin.OptInForm,
               context: optin.RequestContext, **_: Any) -> optin.OptInOutcome:
    """Write the address as the baseline does, in the service's own unit of work."""
    with uow:
        uow.session.execute(INSERT, {"email": form.address.display, "at": datetime.now(UTC)})
        uow.commit()
    return optin.OptInOutcome("pending")


def create_app() -> Flask:
    """Return the service's app (configured from CONSENT_*) recording opt-ins as one INSERT."""
    app = create_service_app()
    optin.request_opt_in = one_insert
    return app


def one_update(uow: UnitOfWork, deps: Deps, token: str, context: optin.RequestContext,
               **_: Any) -> unsubscribe.WithdrawalOutcome:
    """Check the token as the service does and run the baseline's UPDATE."""
    link = links.read(deps, links.UnsubscribeLink, token)
    with uow:
        uow.session.execute(UPDATE, {"at": datetime.now(UTC), "channel": link.channel,
                                     "public_id": link.contact_id})
        uow.commit()
    return unsubscribe.WithdrawalOutcome("***", link.channel, "fi", (link.channel,), (), None)


def create_unsubscribe_app() -> Flask:
    """Return the service's app (configured from CONSENT_*) withdrawing as one UPDATE."""
    app = create_service_app()
    unsubscribe.withdraw_by_link = one_update
    return app
