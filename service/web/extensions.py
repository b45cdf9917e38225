"""The Flask extensions, created unbound here and bound to each app by create_app.

Flask-Limiter 3 keeps its storage on the Limiter object: `init_app` replaces `_storage` and
`_limiter` for every app the one object serves, so a second app in the process (each test
builds one) would count in the first app's counters, or the first in the second's. The
limiter here keeps both per app, in `app.extensions[COUNTERS]`, and reads them from the app
answering the request; what the decorators declare (`limit`, `shared_limit`) stays on the
object, as the routes it describes are the same for every app.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask, current_app, request
from flask_babel import Babel
from flask_limiter import Limiter
from flask_wtf.csrf import CSRFProtect
from limits.storage import Storage
from limits.strategies import RateLimiter

from service.settings import Settings
from service.web import ratelimit
from service.web.current import client_ip

COUNTERS = "consent.ratelimit"
LIMITER = "consent.limiter"
LIMITS_BEFORE_VIEWS = "consent.limits_before_views"


@dataclass(frozen=True)
class AppCounters:
    """One app's rate-limit counters and the strategy that counts in them."""

    storage: Storage
    strategy: RateLimiter


class PerAppLimiter(Limiter):
    """A Limiter whose counters belong to the app answering the request."""

    def init_app(self, app: Flask) -> None:
        """Open this app's counters (from its RATELIMIT_STORAGE_* config) and hook the app."""
        # Flask-Limiter merges each app's storage options into the previous ones.
        self._storage_options = {}
        super().init_app(app)
        storage, strategy = self._storage, self._limiter
        if storage is None or strategy is None:
            raise RuntimeError("Flask-Limiter opened no rate-limit storage")
        app.extensions[COUNTERS] = AppCounters(storage, strategy)
        app.extensions[LIMITER] = self

    def _check_request_limit(
        self, callable_name: str | None = None, in_middleware: bool = True
    ) -> None:
        """Check the limits of the request; before the view only when some could apply there."""
        # Flask-Limiter checks every request twice: before any view (application, default,
        # meta and blueprint limits) and in each decorated view. The service declares limits
        # on views and on the API blueprints only, so most requests have nothing to check
        # before the view, and resolving that nothing costs as much as the view's own check.
        if in_middleware and not self._limits_before_views():
            return
        super()._check_request_limit(callable_name, in_middleware)

    def _limits_before_views(self) -> bool:
        """Tell whether any limit could be checked before the view of this request."""
        # Per app and blueprint, once: limits are declared when the blueprints are registered,
        # and a Flask app takes no blueprint once it has answered a request.
        known: dict[str | None, bool] = current_app.extensions.setdefault(LIMITS_BEFORE_VIEWS, {})
        blueprint = request.blueprint
        if blueprint not in known:
            manager = self.limit_manager
            known[blueprint] = bool(
                manager.application_limits or manager.default_limits or any(self._meta_limits)
                or (blueprint and manager.blueprint_limits(current_app, blueprint))
            )
        return known[blueprint]

    @property
    def storage(self) -> Storage:
        """Return the counters of the app answering the request."""
        return counters(current_app).storage

    @property
    def limiter(self) -> RateLimiter:
        """Return the strategy counting in the counters of the app answering the request."""
        return counters(current_app).strategy


def counters(app: Flask) -> AppCounters:
    """Return app's rate-limit counters."""
    return app.extensions[COUNTERS]  # type: ignore[no-any-return]


limiter = PerAppLimiter(
    key_func=client_ip,
    # Fixed windows: the only strategy the zero-config storage (service/web/ratelimit.py) has;
    # a personal link's two windows are counted in one round trip (ratelimit.CountedTogether).
    strategy=ratelimit.STRATEGY,
    default_limits=[],
    # No X-RateLimit-* headers on every answer: they cost a storage round trip per request
    # (Redis in production). A refused request still says when to retry (create_app).
    headers_enabled=False,
    # No error is swallowed: a storage error reaching the limiter would be a bug, and
    # swallowing it would switch every limit (the login throttle included) off unseen.
    swallow_errors=False,
)

# CSRF is checked by the staff blueprint itself (WTF_CSRF_CHECK_DEFAULT off): public forms,
# one-click POSTs and bearer-key APIs have no session to protect.
csrf = CSRFProtect()


def limiter_config(settings: Settings) -> dict[str, object]:
    """Return the app config that names this app's rate-limit storage."""
    # A shared storage (Redis) that stops answering is replaced by in-process counters
    # until it answers again (ratelimit.FallbackStorage): limits never switch off.
    return {
        "RATELIMIT_STORAGE_URI": ratelimit.storage_uri(settings.ratelimit_storage_url),
        "RATELIMIT_STORAGE_OPTIONS": ratelimit.storage_options(settings.ratelimit_storage_url),
    }

# The pages' words and times (service.web.translation binds it to the page language).
babel = Babel()
