"""Every public and staff page, in Finnish, Swedish and English, at desktop (1280 px) and phone
(390 px) width, checked by axe-core: no serious or critical violation.

The engine is axe-core 4 from npm, which `make install` puts in the venv (`.venv/npm`); on a
machine without npm, the older axe-core inside the axe-selenium-python wheel (3.1, corrected as
ENGINE_CORRECTIONS says). Nothing is fetched while the tests run. One Chromium and one live
server serve the module on each pytest-xdist worker; Chromium itself puts axe into every
document it opens, each page is loaded once and checked at both widths (the window is resized,
the document stays), and each language signs in once per worker. A violation that only a
template change can mend is listed in KNOWN_IN_TEMPLATES with the fix it needs: it is printed
while it lasts, and any violation not listed there fails the test. Three rules axe does not
measure follow: the keyboard focus ring's contrast, the size of choices, and table cells that
wrap between words.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pyotp
import pytest
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait
from sqlalchemy import select

from service.domain import apikeys, links, mail, optin, sources, staff, verbal, webhooks_out
from service.domain.models import ConsentEvent, Contact, EventKind
from service.settings import load_settings
from tests.conftest import FakeClock, LiveServer, make_container
from tests.staff_support import CLI, PASSWORD, add_account

pytestmark = pytest.mark.slow

LANGUAGES = ("fi", "sv", "en")
WIDTHS = (1280, 390)
HEIGHT = 900
BLOCKING = ("serious", "critical")

# (rule, page) -> the template change that mends it. Remove an entry once its fix lands.
KNOWN_IN_TEMPLATES: dict[tuple[str, str], str] = {}

# axe-core 4 as `make install` puts it in the venv with npm; the wheel's own copy otherwise.
MODERN_AXE = Path(sys.prefix) / "npm" / "node_modules" / "axe-core" / "axe.min.js"

# axe-core 3.x (what the wheel for Python 3.11 ships: 3.1.1, from 2018) flags what later
# versions corrected and the HTML standard allows: autocomplete="one-time-code", "off" on an
# email or tel field, and the radiogroup/checkboxgroup rules that axe-core 4.0 removed (they
# failed a fieldset that holds anything besides the group). axe-core 4 runs as shipped.
ENGINE_CORRECTIONS = """
if (axe.version.startsWith('3.')) {
  axe.configure({
    rules: [{id: 'radiogroup', enabled: false}, {id: 'checkboxgroup', enabled: false}],
    checks: [
      {id: 'autocomplete-valid', options: {standaloneTerms: ['one-time-code']}},
      {id: 'autocomplete-appropriate', options: {
        off: ['text', 'search', 'email', 'tel', 'url', 'password', 'number']}}]});
}
"""

# Runs axe on the document and hands back only what a report needs (the full result is large).
# axe-core 4 gives every rule a fixed impact, and each of its violations that impact: of the
# rules a default run runs, only those that can report a serious or critical finding are run
# (a third less work). axe-core 3 has no rule impacts: its default run, whole.
RUN_AXE = """
const [blocking, done] = arguments;
const rules = axe._audit.rules;
const only = rules.every(rule => rule.impact)
  ? {runOnly: {type: 'rule', values: rules
      .filter(rule => blocking.includes(rule.impact)
                      && axe.utils.ruleShouldRun(rule, {page: true}, {}))
      .map(rule => rule.id)}}
  : {};
axe.run(document, {resultTypes: ['violations'], ...only}).then(result => done(
  result.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                               targets: v.nodes.map(n => n.target.join(' '))}))));
"""

# Posts fields (and the page's CSRF token, when it has one) as a person's form would.
POST_FORM = """
const [action, fields] = arguments;
const form = document.createElement('form');
form.method = 'post';
form.action = action;
const token = document.querySelector('input[name=csrf_token]');
const all = token ? [...fields, ['csrf_token', token.value]] : fields;
for (const [name, value] of all) {
  const input = document.createElement('input');
  input.type = 'hidden';
  input.name = name;
  input.value = value;
  form.appendChild(input);
}
document.body.appendChild(form);
window.__leaving = true;
HTMLFormElement.prototype.submit.call(form);
"""


@dataclass(frozen=True)
class Violation:
    """One serious or critical axe finding on one page, language and width."""

    rule: str
    impact: str
    help: str
    page: str
    language: str
    width: int
    targets: tuple[str, ...]

    def __str__(self) -> str:
        shown = ", ".join(self.targets[:4]) + (" ..." if len(self.targets) > 4 else "")
        return (f"{self.rule} ({self.impact}) on {self.page} [{self.language}, "
                f"{self.width} px]: {self.help}; {shown}")


@dataclass
class Site:
    """The app served over HTTP with the state its pages need."""

    base: str
    container: Any
    clock: FakeClock
    endpoint_id: int = 0


@dataclass
class Axe:
    """Load pages in one browser and collect what axe finds on each, at each width."""

    driver: Any
    base: str
    language: str
    found: list[Violation] = field(default_factory=list)
    pages: list[str] = field(default_factory=list)

    def visit(self, page: str, path: str, status: int = 200) -> None:
        """Open a path and check the page it shows (answered with status)."""
        self.driver.get(self.base + path)
        self.check(page, status)

    def post(self, page: str | None, path: str, fields: Sequence[tuple[str, str]] = (),
             status: int = 200) -> None:
        """Post fields to a path from the page open now and check the answer (unless page is
        None: a step on the way)."""
        self.driver.execute_script(POST_FORM, self.base + path, [list(f) for f in fields])
        # Chromium has usually loaded the answer by the time the script returns: poll briefly.
        WebDriverWait(self.driver, 10, poll_frequency=0.02,
                      ignored_exceptions=[WebDriverException]).until(
            lambda d: d.execute_script(
                "return window.__leaving === undefined && document.readyState === 'complete'"))
        if page is not None:
            self.check(page, status)

    def check(self, page: str, status: int = 200) -> None:
        """Run axe on the open page at both widths and keep its serious findings."""
        # A page that failed (a 500, a redirect to the login) would pass axe and prove nothing.
        answered = self.driver.execute_script(
            "return performance.getEntriesByType('navigation')[0].responseStatus")
        assert answered == status, f"{page} [{self.language}] answered {answered}, not {status}"
        self.pages.append(page)
        # The width the window has first, then the other: one resize per page, not three.
        first = self.driver.get_window_size()["width"]
        for width in sorted(WIDTHS, key=lambda w: w != first):
            if width != first:
                self.driver.set_window_size(width, HEIGHT)
            for found in self.driver.execute_async_script(RUN_AXE, list(BLOCKING)):
                if found["impact"] in BLOCKING:
                    self.found.append(Violation(
                        found["id"], found["impact"], found["help"], page, self.language,
                        width, tuple(found["targets"])))

    def attribute(self, selector: str, name: str) -> str:
        """Return an attribute of the first element the selector finds on the open page."""
        return str(self.driver.find_element(By.CSS_SELECTOR, selector).get_attribute(name))

    def assert_clean(self) -> None:
        """Fail naming every violation not known to need a template change; print the known."""
        known = [v for v in self.found if (v.rule, v.page) in KNOWN_IN_TEMPLATES]
        for v in known:
            print(f"known, needs a template change: {v}\n  fix: "
                  f"{KNOWN_IN_TEMPLATES[(v.rule, v.page)]}")
        new = [v for v in self.found if (v.rule, v.page) not in KNOWN_IN_TEMPLATES]
        if new:
            engine = self.driver.execute_script("return axe.version")
            raise AssertionError(
                f"axe-core {engine}: {len(new)} serious or critical accessibility violations "
                f"on {len(set(self.pages))} pages:\n" + "\n".join(map(str, new)))


def axe_script() -> str:
    """Return axe-core's script (the npm copy, else the wheel's) with its version's corrections."""
    if MODERN_AXE.exists():
        return MODERN_AXE.read_text(encoding="utf-8") + ENGINE_CORRECTIONS
    from axe_selenium_python import axe as wheel

    return Path(wheel._DEFAULT_SCRIPT).read_text(encoding="utf-8") + ENGINE_CORRECTIONS


@pytest.fixture(scope="module")
def checking_browser(module_browser: Any) -> Iterator[Any]:
    """The module's Chromium with axe in every document it opens, before the page's own code.

    Sending axe's half a megabyte through WebDriver after each load took 60-80 ms a page;
    Chromium evaluating it as the document starts takes about 15.
    """
    added = module_browser.execute_cdp_cmd(
        "Page.addScriptToEvaluateOnNewDocument", {"source": axe_script()})
    module_browser.set_window_size(WIDTHS[0], HEIGHT)
    yield module_browser
    module_browser.execute_cdp_cmd(
        "Page.removeScriptToEvaluateOnNewDocument", {"identifier": added["identifier"]})


# --- the service and the state its pages show -----------------------------------------------

@pytest.fixture(scope="module")
def site(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """Serve the app for the whole module, with a source, an endpoint and its deliveries, a
    parked letter and an API key already there."""
    from service.web import create_app
    from webhooks.outbound import resolve_host

    data = tmp_path_factory.mktemp("accessibility") / "data"
    data.mkdir()
    (data / "consent.sqlite3").write_bytes(sqlite_template.read_bytes())
    settings = load_settings({
        "CONSENT_DATA_DIR": str(data),
        "CONSENT_DATABASE_URL": f"sqlite:///{data / 'consent.sqlite3'}",
        "CONSENT_SECRET_KEYS": "test-key-0123456789abcdef",
        "CONSENT_ORGANIZATION": "Kiropraktikko Testi",
        "CONSENT_ORGANIZATION_ADDRESS": "Kauppakatu 1, 40100 Jyväskylä",
        "CONSENT_PUBLIC_URL": "https://consent.example.fi",
        "CONSENT_OPTIN_RATE_LIMIT": "1000/minute",
    })
    clock = FakeClock()
    container = make_container(settings, clock)
    app = create_app(container=container)
    app.config["TESTING"] = True
    server = LiveServer(app)
    try:
        now = clock.now()
        sources.add_source(container.uow(), "etusivun-lomake", "cf7", now=now,
                           mapping={"consent": ["uutiskirje"]})
        apikeys.create_key(container.uow(), "uutiskirjetyokalu", "reader", now=now, actor=CLI)
        # Port 9 refuses: the deliveries page shows a failed attempt with its error.
        endpoint, _secret = webhooks_out.add_endpoint(
            container.uow(), "http://127.0.0.1:9/crm/webhook", ["all"], now=now,
            resolve=resolve_host, allow_private=True)
        with container.uow() as uow:
            # A letter this version cannot compose: the worker parks it for staff to see.
            mail.queue_unrendered(uow.session, "no-such-letter", {}, key="parked",
                                  sender="noreply@example.fi", to="maija@example.fi",
                                  contact_id=None, now=now)
            uow.commit()
        record_verbal(container, "desk@example.fi", "fi", name="Matti Meikäläinen")
        container.worker().drain()
        yield Site(server.url, container, clock, endpoint.id)
    finally:
        server.stop()
        container.close()


def record_verbal(container: Any, email: str, language: str, *,
                  name: str | None = None) -> str:
    """Record email and SMS consent given at the desk, as staff would; return the public id."""
    form = verbal.parse_verbal_consent(
        {"email": email, "phone": "040 123 4567", "name": name, "language": language,
         "channels": ["email", "sms"], "method": "in_person", "note": "kysyi vastaanotossa"},
        default_language="fi")
    outcome = verbal.record_verbal_consent(container.uow(), container.deps, form, CLI,
                                           witness="liisa", ip="192.0.2.10")
    return outcome.contact_id


def events_of(container: Any, public_id: str, kind: EventKind) -> tuple[int, ...]:
    """Return the ids of a contact's consent events of one kind."""
    with container.session_factory() as session:
        return tuple(session.scalars(
            select(ConsentEvent.id).join(Contact, ConsentEvent.contact_id == Contact.id)
            .where(Contact.public_id == public_id, ConsentEvent.kind == kind)
            .order_by(ConsentEvent.id)))


def confirmation_token(site: Site, email: str, language: str, *, age: timedelta) -> str:
    """Ask to subscribe through the form's use case; return the confirmation link's token as
    signed `age` ago."""
    container = site.container
    form = optin.parse_opt_in({"email": email, "consent": True, "language": language},
                              default_language="fi")
    optin.request_opt_in(container.uow(), container.deps, form,
                         optin.RequestContext(ip="203.0.113.5", user_agent="Firefox"))
    with container.session_factory() as session:
        public_id = session.scalars(select(Contact.public_id).where(
            Contact.email == email)).one()
    [requested] = events_of(container, public_id, EventKind.REQUESTED)
    site.clock.current -= age
    try:
        return links.token(container.deps, links.ConfirmLink(public_id, ("email",), requested))
    finally:
        site.clock.current += age


@dataclass(frozen=True)
class StaffSession:
    """An admin signed in, in one language: its name and the cookies that carry the session."""

    account: str
    cookies: tuple[dict[str, Any], ...]


Sessions = dict[str, StaffSession]


@pytest.fixture(scope="module")
def sessions() -> Sessions:
    """The signed-in admin of each language, kept for the module's tests on this worker."""
    return {}


def signed_in(axe: Axe, site: Site, sessions: Sessions, lang: str) -> str:
    """Continue this worker's session in the language, or sign a new admin in (enrolling its
    TOTP, pages unchecked) if it has none yet; return the account's name."""
    kept = sessions.get(lang)
    if kept is None:
        name = f"paakayttaja-{lang}"
        add_account(site.container, name, admin=True)
        axe.driver.delete_all_cookies()
        axe.driver.get(f"{site.base}/staff/login?lang={lang}")
        axe.post(None, "/staff/login", [("name", name), ("password", PASSWORD)])
        secret = axe.driver.find_element(By.ID, "totp-secret").text
        axe.post(None, "/staff/totp", [("code", pyotp.TOTP(secret).at(site.clock.now()))])
        sessions[lang] = StaffSession(name, tuple(axe.driver.get_cookies()))
        return name
    axe.driver.delete_all_cookies()
    if not axe.driver.current_url.startswith(site.base):
        axe.driver.get(f"{site.base}/subscribe")  # a cookie is set only on its own site
    for cookie in kept.cookies:
        axe.driver.add_cookie(cookie)
    return kept.account


# --- the public pages -----------------------------------------------------------------------

@pytest.mark.parametrize("lang", LANGUAGES)
def test_public_pages_have_no_serious_accessibility_violations(
    checking_browser: Any, site: Site, lang: str
) -> None:
    axe = Axe(checking_browser, site.base, lang)
    deps = site.container.deps
    confirm = confirmation_token(site, f"tilaaja-{lang}@example.fi", lang, age=timedelta(0))
    expired = confirmation_token(site, f"myohassa-{lang}@example.fi", lang,
                                 age=timedelta(days=8))
    person = record_verbal(site.container, f"asiakas-{lang}@example.fi", lang)
    unsubscribe = links.token(deps, links.UnsubscribeLink(person, "email"))
    dispute = links.token(deps, links.DisputeLink(
        person, events_of(site.container, person, EventKind.GRANTED)))

    axe.visit("hosted form", f"/subscribe?lang={lang}")
    axe.post("hosted form: errors", "/api/v1/subscribe",
             [("email", "ei osoite"), ("language", lang)], status=422)
    axe.post("hosted form: thanks", "/api/v1/subscribe",
             [("email", f"uusi-{lang}@example.fi"), ("consent", "on"), ("language", lang)],
             status=202)
    axe.visit("confirmation", f"/confirm/{confirm}")
    axe.post("confirmation: done", f"/confirm/{confirm}")
    axe.visit("confirmation: already done", f"/confirm/{confirm}")
    axe.visit("confirmation: expired link", f"/confirm/{expired}", status=410)
    axe.visit("unsubscribe", f"/unsubscribe/{unsubscribe}")
    axe.post("unsubscribe: done", f"/unsubscribe/{unsubscribe}")
    undo = axe.attribute("form[action*='/resubscribe/']", "action")
    axe.post("unsubscribe: text messages stopped too", f"/unsubscribe/{unsubscribe}",
             [("channel", "sms")])
    axe.post("unsubscribe: reason given", f"/unsubscribe/{unsubscribe}/reason",
             [("reason", "too_many")])
    axe.visit("undo", undo.removeprefix(site.base))
    axe.post("undo: done", undo.removeprefix(site.base))
    axe.visit("unsubscribe: broken link", f"/unsubscribe/not-a-link?lang={lang}",
              status=404)
    axe.visit("send me my link", f"/unsubscribe?lang={lang}")
    axe.post("send me my link: sent", "/unsubscribe",
             [("email", f"asiakas-{lang}@example.fi"), ("language", lang)], status=202)
    axe.visit("dispute", f"/dispute/{dispute}")
    axe.post("dispute: done", f"/dispute/{dispute}")
    axe.visit("not found", f"/no-such-page?lang={lang}", status=404)
    axe.assert_clean()


# --- the staff pages ------------------------------------------------------------------------

def sign_in_pages(axe: Axe, site: Site, sessions: Sessions, lang: str) -> None:
    """Check the sign-in pages on the way in: enrol an admin's TOTP, then sign in with it (the
    session the language's other staff pages continue)."""
    name = f"omistaja-{lang}"
    add_account(site.container, name, admin=True)
    axe.driver.delete_all_cookies()
    axe.visit("login", f"/staff/login?lang={lang}")
    axe.post("login: failed", "/staff/login", [("name", name), ("password", "väärä")],
             status=401)
    axe.post("TOTP enrolment", "/staff/login", [("name", name), ("password", PASSWORD)])
    secret = axe.driver.find_element(By.ID, "totp-secret").text
    axe.post("TOTP enrolment: wrong code", "/staff/totp", [("code", "000000")],
             status=422)
    totp = pyotp.TOTP(secret)
    axe.post("recovery codes", "/staff/totp", [("code", totp.at(site.clock.now()))])

    axe.driver.delete_all_cookies()
    site.clock.advance(seconds=30)  # a code is good once: the next login needs the next one
    axe.driver.get(f"{site.base}/staff/login?lang={lang}")
    axe.post("second step", "/staff/login", [("name", name), ("password", PASSWORD)])
    axe.post("second step: wrong code", "/staff/login/code", [("code", "000000")],
             status=401)
    axe.post(None, "/staff/login/code", [("code", totp.at(site.clock.now()))])
    sessions[lang] = StaffSession(name, tuple(axe.driver.get_cookies()))


def person_pages(axe: Axe, site: Site, sessions: Sessions, lang: str) -> None:
    """Check the pages about one person: find, view, correct, withdraw, prove and erase."""
    signed_in(axe, site, sessions, lang)
    person = record_verbal(site.container, f"henkilo-{lang}@example.fi", lang,
                           name=f"Henkilö Testinen {lang}")
    leaving = record_verbal(site.container, f"poistettava-{lang}@example.fi", lang)
    axe.visit("search", "/staff/contacts")
    axe.visit("search: results", f"/staff/contacts?q=testinen+{lang}")
    axe.visit("search: nothing found", "/staff/contacts?q=nobody-at-all")
    axe.visit("search: a person without a name", f"/staff/contacts?q=poistettava-{lang}")
    axe.visit("contact", f"/staff/contacts/{person}")
    axe.post("contact: correction refused", f"/staff/contacts/{person}/correct",
             [("email", "ei osoite"), ("name", "Henkilö"), ("phone", ""), ("language", lang)],
             status=422)
    axe.post("contact: withdrawn", f"/staff/contacts/{person}/withdraw", [("channels", "sms")])
    axe.post("contact: nothing changed", f"/staff/contacts/{person}/withdraw",
             [("channels", "sms")])
    axe.post("contact: nothing left to withdraw", f"/staff/contacts/{person}/withdraw",
             [("channels", "email")])
    axe.visit("proof pack", f"/staff/contacts/{person}/proof.html")
    axe.visit("verbal consent", "/staff/consents/new")
    axe.post("verbal consent: refused", "/staff/consents/new", [("email", "ei osoite")],
             status=422)
    axe.post("verbal consent: wording in another language", "/staff/consents/new",
             [("language", "sv" if lang == "fi" else "fi"), ("name", "Henkilö"),
              ("show_wording", "1")])
    axe.visit("erase", f"/staff/contacts/{leaving}/erase")
    axe.post("erase: not confirmed", f"/staff/contacts/{leaving}/erase", status=422)
    axe.post("erase: done", f"/staff/contacts/{leaving}/erase", [("confirm", "yes")])
    axe.visit("contact: not found", f"/staff/contacts/{leaving}", status=404)


def admin_pages(axe: Axe, site: Site, sessions: Sessions, lang: str) -> None:
    """Check the admin pages, with what each lists and each secret shown once."""
    account = signed_in(axe, site, sessions, lang)
    axe.visit("accounts", "/staff/admin/accounts")
    axe.visit("my account", "/staff/account")
    axe.post("my account: passwords differ", "/staff/account/password",
             [("current", PASSWORD), ("new", "uusi salasana 1"), ("again", "uusi salasana 2")],
             status=422)
    axe.visit("API keys", "/staff/admin/apikeys")
    axe.post("API keys: new key", "/staff/admin/apikeys",
             [("name", f"raportit-{lang}"), ("role", "reader")])
    axe.visit("consent wording", "/staff/admin/notices")
    axe.visit("form sources", "/staff/admin/sources")
    axe.post("form sources: new secret", "/staff/admin/sources",
             [("name", f"lomake-{lang}"), ("kind", "generic"), ("mapping", "consent=ok"),
              ("opt_in", "double")])
    axe.visit("webhooks", "/staff/admin/webhooks")
    axe.visit("deliveries", f"/staff/admin/webhooks/{site.endpoint_id}/deliveries")
    axe.visit("parked mail", "/staff/admin/mail")
    axe.visit("audit log", "/staff/admin/audit")
    axe.visit("audit log: filtered", "/staff/admin/audit?action=login&who=staff&from=2026-01-01")
    axe.visit("audit log: nothing found", "/staff/admin/audit?from=2099-01-01")
    axe.visit("settings", "/staff/admin/settings")
    confirmation_pages(axe, site, lang, account)


def confirmation_pages(axe: Axe, site: Site, lang: str, account: str) -> None:
    """Check the questions a destructive action asks first, and one asked again unconfirmed."""
    other = add_account(site.container, f"vastaanotto-{lang}")
    own = next(a.id for a in staff.list_accounts(site.container.uow())
               if a.name == account)
    key = next(k.id for k in apikeys.list_keys(site.container.uow())
               if k.name == f"raportit-{lang}")
    axe.visit("ask: disable an account", f"/staff/admin/accounts/{other.id}/disable")
    axe.visit("ask: reset one's own two-step login", f"/staff/admin/accounts/{own}/reset-totp")
    axe.visit("ask: revoke a key", f"/staff/admin/apikeys/{key}/revoke")
    axe.visit("ask: rotate a source's secret", f"/staff/admin/sources/lomake-{lang}/rotate")
    axe.visit("ask: remove a source", f"/staff/admin/sources/lomake-{lang}/remove")
    axe.post("ask: not confirmed", f"/staff/admin/sources/lomake-{lang}/remove", status=422)
    for action in ("rotate", "disable", "delete"):
        axe.visit(f"ask: {action} an endpoint",
                  f"/staff/admin/webhooks/{site.endpoint_id}/{action}")


# By area, so that pytest-xdist can share a language's staff pages between its workers.
STAFF_AREAS = {"sign-in": sign_in_pages, "people": person_pages, "admin": admin_pages}


@pytest.mark.parametrize("area", STAFF_AREAS)
@pytest.mark.parametrize("lang", LANGUAGES)
def test_staff_pages_have_no_serious_accessibility_violations(
    checking_browser: Any, site: Site, sessions: Sessions, lang: str, area: str
) -> None:
    axe = Axe(checking_browser, site.base, lang)
    STAFF_AREAS[area](axe, site, sessions, lang)
    axe.assert_clean()


# --- what axe does not measure: the focus ring, target sizes, words in table cells ----------

# The focused element's outline, and the colour behind it (the ring is drawn outside it).
FOCUS_RING = """
const el = document.activeElement;
if (!el || el === document.body) return null;
const opaque = c => c !== 'rgba(0, 0, 0, 0)' && c !== 'transparent';
let behind = el.parentElement;
while (behind && !opaque(getComputedStyle(behind).backgroundColor)) behind = behind.parentElement;
const style = getComputedStyle(el);
return {what: el.outerHTML.slice(0, 80), style: style.outlineStyle,
        width: parseFloat(style.outlineWidth), ring: style.outlineColor,
        behind: behind ? getComputedStyle(behind).backgroundColor : 'rgb(255, 255, 255)'};
"""

# Words of letters in table cells (not code: tokens may break) that the layout split in two.
SPLIT_WORDS = """
const split = [];
for (const cell of document.querySelectorAll('main td, main th')) {
  const walker = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    if (node.parentElement.closest('code')) continue;
    for (const m of node.data.matchAll(/[\\p{L}]{2,24}/gu)) {
      const range = document.createRange();
      range.setStart(node, m.index);
      range.setEnd(node, m.index + m[0].length);
      const lines = new Set([...range.getClientRects()].map(r => Math.round(r.top)));
      if (lines.size > 1) split.push(m[0]);
    }
  }
}
return split;
"""


def luminance(css_colour: str) -> float:
    """Return the relative luminance (WCAG) of a computed rgb()/rgba() colour."""
    red, green, blue = (int(float(v)) / 255 for v in
                        css_colour.split("(")[1].rstrip(")").split(",")[:3])

    def linear(c: float) -> float:
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    return 0.2126 * linear(red) + 0.7152 * linear(green) + 0.0722 * linear(blue)


def contrast(one: str, other: str) -> float:
    """Return the WCAG contrast ratio of two computed colours."""
    light, dark = sorted((luminance(one), luminance(other)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def focus_rings(driver: Any, stops: int) -> list[dict[str, Any]]:
    """Press Tab stops times from the top of the page; return each focused element's ring."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    rings = []
    for _ in range(stops):
        ActionChains(driver).send_keys(Keys.TAB).perform()
        ring = driver.execute_script(FOCUS_RING)
        if ring is not None:
            rings.append(ring)
    return rings


def test_keyboard_focus_ring_contrasts_3_to_1_with_what_is_behind_it(
    checking_browser: Any, site: Site, sessions: Sessions
) -> None:
    axe = Axe(checking_browser, site.base, "fi")
    signed_in(axe, site, sessions, "fi")
    checking_browser.set_window_size(WIDTHS[0], HEIGHT)
    rings: list[dict[str, Any]] = []
    for path in ("/subscribe", "/staff/contacts"):
        checking_browser.get(site.base + path)
        rings += focus_rings(checking_browser, 8)
    assert len(rings) >= 12
    faint = [f"{r['what']}: {r['style']} {r['width']}px {r['ring']} on {r['behind']}"
             for r in rings if r["style"] == "none" or r["width"] < 2
             or contrast(r["ring"], r["behind"]) < 3]
    assert not faint, "focus rings under 3:1 or thinner than 2 px:\n" + "\n".join(faint)


def test_unsubscribe_reason_choices_are_targets_of_at_least_24_px(
    checking_browser: Any, site: Site
) -> None:
    axe = Axe(checking_browser, site.base, "fi")
    person = record_verbal(site.container, "valinnat@example.fi", "fi")
    unsubscribe = links.token(site.container.deps, links.UnsubscribeLink(person, "email"))
    for width in WIDTHS:
        checking_browser.set_window_size(width, HEIGHT)
        checking_browser.get(f"{site.base}/subscribe")
        axe.post(None, f"/unsubscribe/{unsubscribe}")
        sizes = checking_browser.execute_script(
            "return [...document.querySelectorAll('input[type=radio], input[type=checkbox]')]"
            ".map(e => [e.value, e.getBoundingClientRect().width, "
            "e.getBoundingClientRect().height])")
        assert sizes, "the answer page offers reasons to choose from"
        small = [s for s in sizes if s[1] < 24 or s[2] < 24]
        assert not small, f"choices under 24 x 24 px at {width} px: {small}"
    checking_browser.set_window_size(WIDTHS[0], HEIGHT)


def test_admin_tables_wrap_between_words_never_inside_one(
    checking_browser: Any, site: Site, sessions: Sessions
) -> None:
    axe = Axe(checking_browser, site.base, "fi")
    signed_in(axe, site, sessions, "fi")
    checking_browser.set_window_size(WIDTHS[0], HEIGHT)
    for path in ("/staff/admin/audit", "/staff/admin/accounts", "/staff/admin/apikeys",
                 "/staff/admin/sources", f"/staff/admin/webhooks/{site.endpoint_id}/deliveries",
                 "/staff/admin/mail"):
        checking_browser.get(site.base + path)
        split = checking_browser.execute_script(SPLIT_WORDS)
        assert not split, f"{path} splits words inside: {split[:10]}"


# One fault of each of several blocking kinds, and a table with an empty column header that
# only axe's experimental rules (never in a default run) would flag.
BROKEN_PAGE = """<!doctype html><html><head><title>Rikki</title></head><body><main>
<img src="kuva.png"><button></button><a href="/"></a><input type="text">
<p style="color: #bbb; background: #fff">haalea teksti</p><div role="ei-rooli">rooli</div>
<table><tr><th>Nimi</th><th>Laji</th><th></th></tr><tr><td>a</td><td>b</td><td>c</td></tr>
<tr><td>d</td><td>e</td><td>f</td></tr><tr><td>g</td><td>h</td><td>i</td></tr></table>
</main></body></html>"""

# axe's default run, every rule it picks, as the reference for RUN_AXE's choice of rules.
DEFAULT_RUN = """
const done = arguments[arguments.length - 1];
axe.run(document, {resultTypes: ['violations']}).then(result => done(result.violations.map(
  v => [v.id, v.impact, v.nodes.length])));
"""


def test_the_rules_run_find_every_serious_finding_a_default_axe_run_finds(
    checking_browser: Any
) -> None:
    checking_browser.get("data:text/html;charset=utf-8," + quote(BROKEN_PAGE))
    default = sorted((rule, impact, nodes) for rule, impact, nodes in
                     checking_browser.execute_async_script(DEFAULT_RUN) if impact in BLOCKING)
    assert len(default) >= 5, f"the broken page should fail several rules: {default}"
    found = checking_browser.execute_async_script(RUN_AXE, list(BLOCKING))
    assert sorted((f["id"], f["impact"], len(f["targets"])) for f in found
                  if f["impact"] in BLOCKING) == default


def test_every_allow_listed_violation_names_its_fix() -> None:
    for (rule, page), fix in KNOWN_IN_TEMPLATES.items():
        assert rule and page and len(fix) > 20, (rule, page)

