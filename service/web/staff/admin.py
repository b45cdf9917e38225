"""The admin pages: accounts, consent wording, API keys, form sources, outbound webhooks,
parked mail, the settings in force and the audit log.

A destructive action asks first: its GET is a page that names the target and what will happen,
and its POST acts only with that page's confirmation field; the result is said in words.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Blueprint, abort, flash, redirect, request, session, url_for

from service.domain import apikeys, audit, notices, parked, sources, staff, webhooks_out
from service.domain.languages import LANGUAGES
from service.domain.normalize import MAX_INT, InvalidInput, whole_number
from service.settings import settings_page_rows
from service.web.current import client_ip, container
from service.web.staff import audit_words
from service.web.staff.pages import admin_only, lang, me, page, problems, w

bp = Blueprint("admin", __name__, url_prefix="/admin")


@dataclass(frozen=True)
class Ask:
    """A confirmation page: the question naming the target, what will happen, the button."""

    title: str
    consequence: str
    button: str
    back: str
    # An endpoint's new secret may end the old one at once (a leak) or sign beside it.
    drop_old: bool = False


def asking(question: Ask) -> Any:
    """Ask before acting; a POST without the page's confirmation is asked again, unchanged."""
    if request.method == "POST":
        return page("ask.html", 422, ask=question, error=w("ask.not_confirmed"))
    return page("ask.html", ask=question, error=None)


def confirmed() -> bool:
    """Tell whether this POST carries the confirmation page's field."""
    return request.method == "POST" and request.form.get("confirm") == "yes"


# --- accounts, consent wording, API keys ----------------------------------------------------

@bp.get("/accounts")
@admin_only
def accounts() -> Any:
    """List accounts and offer a form for a new one."""
    return page("accounts.html", accounts=staff.list_accounts(container().uow()),
                errors={}, form={})


@bp.post("/accounts")
@admin_only
def accounts_post() -> Any:
    """Create an account."""
    try:
        staff.create_account(container().uow(), container().deps, request.form.get("name", ""),
                             request.form.get("password", ""),
                             admin=request.form.get("admin") == "yes", actor=me().actor,
                             ip=client_ip())
    except InvalidInput as exc:
        return page("accounts.html", 422, accounts=staff.list_accounts(container().uow()),
                    errors=problems(exc), form={"name": request.form.get("name", "")})
    flash(w("accounts.created"))
    return redirect(url_for("staff.admin.accounts"))


def account_named(account_id: int) -> staff.StaffInfo:
    """Return an account, disabled or not, or answer 404."""
    found = [a for a in staff.list_accounts(container().uow()) if a.id == account_id]
    if not found:
        abort(404)
    return found[0]


def account_question(account: staff.StaffInfo, action: str) -> Ask:
    """Ask before disabling an account or resetting its two-step login (one's own too)."""
    back = url_for("staff.admin.accounts")
    if action == "disable" and account.id != me().id and not account.disabled:
        return Ask(w("ask.disable.title", name=account.name),
                   w("ask.disable.what", name=account.name), w("accounts.disable"), back)
    if action == "reset-totp" and account.totp_enabled:
        if account.id == me().id:
            return Ask(w("ask.reset_own.title"), w("ask.reset_own.what"),
                       w("accounts.reset_totp"), back)
        return Ask(w("ask.reset.title", name=account.name),
                   w("ask.reset.what", name=account.name), w("accounts.reset_totp"), back)
    abort(404)


@bp.route("/accounts/<int:account_id>/<action>", methods=["GET", "POST"])
@admin_only
def account_action(account_id: int, action: str) -> Any:
    """Enable an account; disable it or reset its two-step login once confirmed."""
    uow, deps, actor, ip = container().uow(), container().deps, me().actor, client_ip()
    account = account_named(account_id)
    if action == "enable" and request.method == "POST":
        staff.set_disabled(uow, deps, account_id, False, actor=actor, ip=ip)
        flash(w("accounts.enabled_done", name=account.name))
        return redirect(url_for("staff.admin.accounts"))
    question = account_question(account, action)
    if not confirmed():
        return asking(question)
    if action == "disable":
        staff.set_disabled(uow, deps, account_id, True, actor=actor, ip=ip)
        flash(w("accounts.disabled_done", name=account.name))
        return redirect(url_for("staff.admin.accounts"))
    staff.reset_totp(uow, deps, account_id, actor=actor, ip=ip)
    if account.id != me().id:
        flash(w("accounts.reset_done", name=account.name))
        return redirect(url_for("staff.admin.accounts"))
    # One's own reset ended this session too: say so on the login, not as an expiry.
    chosen = lang()
    session.clear()
    session["lang"] = chosen
    flash(w("accounts.reset_own_done"))
    return redirect(url_for("staff.signin.login"))


@bp.get("/notices")
@admin_only
def notice_list() -> Any:
    """List consent wording versions; offer a form for the next one."""
    versions = notices.list_versions(container().uow())
    return page("notices.html", versions=versions, errors={},
                form=versions[0].texts if versions else {})


@bp.post("/notices")
@admin_only
def notice_publish() -> Any:
    """Publish the next version of the consent wording."""
    texts = {language: request.form.get(language, "") for language in LANGUAGES}
    try:
        notices.publish(container().uow(), container().deps, texts, me().actor, ip=client_ip())
    except InvalidInput as exc:
        return page("notices.html", 422, versions=notices.list_versions(container().uow()),
                    errors=problems(exc), form=texts)
    flash(w("notices.published"))
    return redirect(url_for("staff.admin.notice_list"))


@bp.get("/apikeys")
@admin_only
def api_keys() -> Any:
    """List API keys (never the keys themselves) and offer a form for a new one."""
    return page("apikeys.html", keys=apikeys.list_keys(container().uow()), issued=None,
                errors={})


@bp.post("/apikeys")
@admin_only
def api_keys_post() -> Any:
    """Issue a key and show it once."""
    try:
        issued = apikeys.create_key(container().uow(), request.form.get("name", ""),
                                    request.form.get("role", ""), now=container().clock.now(),
                                    actor=me().actor, ip=client_ip())
    except InvalidInput as exc:
        return page("apikeys.html", 422, keys=apikeys.list_keys(container().uow()),
                    issued=None, errors=problems(exc))
    return page("apikeys.html", keys=apikeys.list_keys(container().uow()), issued=issued,
                errors={})


@bp.route("/apikeys/<int:key_id>/revoke", methods=["GET", "POST"])
@admin_only
def api_key_revoke(key_id: int) -> Any:
    """Revoke a key once confirmed; it stops working at once."""
    key = apikeys.get_key(container().uow(), key_id)
    if key is None or key.revoked_at is not None:
        abort(404)
    if not confirmed():
        return asking(Ask(w("ask.revoke.title", name=key.name),
                          w("ask.revoke.what", prefix=key.prefix), w("apikeys.revoke"),
                          url_for("staff.admin.api_keys")))
    apikeys.revoke_key(container().uow(), str(key_id), now=container().clock.now(),
                       actor=me().actor, ip=client_ip())
    flash(w("apikeys.revoked_done", name=key.name))
    return redirect(url_for("staff.admin.api_keys"))


# --- webhooks: form sources in, consent events out ------------------------------------------

def sources_page(status: int = 200, *, issued: sources.IssuedSource | None = None,
                 errors: dict[str, str] | None = None,
                 form: dict[str, Any] | None = None, done: str | None = None) -> Any:
    """Show the sources page, with a new secret to show once, or a form's problems."""
    return page("sources.html", status, sources=sources.list_sources(container().uow()),
                versions=notices.list_versions(container().uow()), issued=issued,
                errors=errors or {}, form=form or {}, done=done,
                form_kinds=[k.value for k in sources.FORM_KINDS],
                provider_kinds=[k.value for k in sources.PROVIDER_KINDS],
                base=container().settings.public_url)


@bp.get("/sources")
@admin_only
def source_list() -> Any:
    """List inbound sources (never their secrets) and offer a form for a new one."""
    return sources_page()


@bp.post("/sources")
@admin_only
def source_add() -> Any:
    """Add a source and show its URL and secret once."""
    form = {k: (request.form.get(k) or "").strip() for k in
            ("name", "kind", "mapping", "notice", "opt_in", "signing_secret", "topic_arns")}
    opt_in = {"double": True, "single": False}.get(form["opt_in"])
    try:
        issued = sources.add_source(
            container().uow(), form["name"], form["kind"], now=container().clock.now(),
            mapping=sources.parse_mapping(form["mapping"].splitlines()),
            notice=whole_number(form["notice"], low=1, high=MAX_INT),
            double_opt_in=opt_in, channels=request.form.getlist("channels") or ("email",),
            signing_secret=form["signing_secret"] or None,
            topic_arns=form["topic_arns"].split(), actor=me().actor, ip=client_ip(),
        )
    except sources.SourceProblem as exc:
        return sources_page(422, errors={"source": str(exc)}, form=form)
    return sources_page(issued=issued)


def source_named(name: str) -> sources.SourceConfig:
    """Return a source by name, or answer 404."""
    source = sources.find_source(container().uow(), name)
    if source is None:
        abort(404)
    return source


@bp.route("/sources/<name>/rotate", methods=["GET", "POST"])
@admin_only
def source_rotate(name: str) -> Any:
    """Give a source a new secret once confirmed and show it once; the old one stops working."""
    source = source_named(name)
    if source.token_hash is None:
        abort(404)
    if not confirmed():
        return asking(Ask(w("ask.rotate_source.title", name=source.name),
                          w("ask.rotate_source.what"), w("sources.rotate"),
                          url_for("staff.admin.source_list")))
    try:
        issued = sources.rotate_token(container().uow(), name, now=container().clock.now(),
                                      actor=me().actor, ip=client_ip())
    except sources.SourceProblem as exc:
        return sources_page(422, errors={"source": str(exc)})
    return sources_page(issued=issued, done=w("sources.rotated_done", name=source.name))


@bp.route("/sources/<name>/remove", methods=["GET", "POST"])
@admin_only
def source_remove(name: str) -> Any:
    """Remove a source once confirmed; the website's form stops feeding the register."""
    source = source_named(name)
    if not confirmed():
        return asking(Ask(w("ask.remove.title", name=source.name),
                          w("ask.remove.what", url=container().settings.public_url
                            + source.path),
                          w("sources.remove"), url_for("staff.admin.source_list")))
    if not sources.remove_source(container().uow(), name, now=container().clock.now(),
                                 actor=me().actor, ip=client_ip()):
        abort(404)
    flash(w("sources.removed", name=source.name))
    return redirect(url_for("staff.admin.source_list"))


def endpoints_page(status: int = 200, *, secret: tuple[int, str] | None = None,
                   errors: dict[str, str] | None = None,
                   form: dict[str, Any] | None = None, done: str | None = None) -> Any:
    """Show the outbound endpoints, with a new secret to show once, or a form's problems."""
    return page("webhooks.html", status,
                endpoints=webhooks_out.list_endpoints(container().uow()),
                event_types=webhooks_out.EVENT_TYPES, secret=secret, errors=errors or {},
                form=form or {}, done=done)


@bp.get("/webhooks")
@admin_only
def endpoint_list() -> Any:
    """List outbound endpoints and offer a form for a new one."""
    return endpoints_page()


@bp.post("/webhooks")
@admin_only
def endpoint_add() -> Any:
    """Register an endpoint after checking where it points; show its secret once."""
    from webhooks.outbound import resolve_host

    form: dict[str, Any] = {"url": (request.form.get("url") or "").strip(),
                            "events": request.form.getlist("events"),
                            "allow_private": request.form.get("allow_private") == "yes",
                            "include_personal_data":
                                request.form.get("include_personal_data") == "yes"}
    try:
        info, secret = webhooks_out.add_endpoint(
            container().uow(), form["url"], form["events"], now=container().clock.now(),
            resolve=resolve_host, allow_private=form["allow_private"],
            include_personal_data=form["include_personal_data"], actor=me().actor,
            ip=client_ip(),
        )
    except webhooks_out.EndpointProblem as exc:
        return endpoints_page(422, errors={"url": str(exc)}, form=form)
    return endpoints_page(secret=(info.id, secret))


# What each endpoint action asks first (none for enabling) and what it says once done.
ENDPOINT_ASKS = {"rotate": "rotate_endpoint", "disable": "disable_endpoint",
                 "delete": "delete_endpoint"}
ENDPOINT_BUTTONS = {"rotate": "webhooks.rotate", "disable": "webhooks.disable",
                    "delete": "webhooks.delete"}
ENDPOINT_DONE = {"disable": "webhooks.disabled_done", "enable": "webhooks.enabled_done",
                 "delete": "webhooks.deleted"}


@bp.route("/webhooks/<int:endpoint_id>/<action>", methods=["GET", "POST"])
@admin_only
def endpoint_action(endpoint_id: int, action: str) -> Any:
    """Enable an endpoint; rotate its secret, disable or delete it once confirmed."""
    uow, now, actor, ip = container().uow(), container().clock.now(), me().actor, client_ip()
    try:
        endpoint = webhooks_out.get_endpoint(uow, endpoint_id)
    except webhooks_out.EndpointProblem:
        abort(404)
    if action not in ENDPOINT_DONE and action != "rotate":
        abort(404)
    if action != "enable" and not confirmed():
        asked = ENDPOINT_ASKS[action]
        return asking(Ask(w(f"ask.{asked}.title", url=endpoint.url), w(f"ask.{asked}.what"),
                          w(ENDPOINT_BUTTONS[action]), url_for("staff.admin.endpoint_list"),
                          drop_old=action == "rotate"))
    if request.method != "POST":
        abort(405)
    try:
        if action == "rotate":
            drop_old = request.form.get("drop_old") == "yes"
            secret = webhooks_out.rotate_secret(uow, endpoint_id, now=now, drop_old=drop_old,
                                                actor=actor, ip=ip)
            done = "webhooks.rotated_dropped_done" if drop_old else "webhooks.rotated_done"
            return endpoints_page(secret=(endpoint_id, secret), done=w(done, url=endpoint.url))
        if action == "delete":
            webhooks_out.delete_endpoint(uow, endpoint_id, now=now, actor=actor, ip=ip)
        else:
            webhooks_out.set_enabled(uow, endpoint_id, action == "enable", now=now,
                                     actor=actor, ip=ip)
    except webhooks_out.EndpointProblem:
        abort(404)
    flash(w(ENDPOINT_DONE[action], url=endpoint.url))
    return redirect(url_for("staff.admin.endpoint_list"))


@bp.get("/webhooks/<int:endpoint_id>/deliveries")
@admin_only
def delivery_list(endpoint_id: int) -> Any:
    """Show an endpoint's recent deliveries with every attempt."""
    try:
        endpoint = webhooks_out.get_endpoint(container().uow(), endpoint_id)
    except webhooks_out.EndpointProblem:
        abort(404)
    return page("deliveries.html", endpoint=endpoint,
                deliveries=webhooks_out.list_deliveries(container().uow(),
                                                      endpoint_id=endpoint_id))


@bp.post("/webhooks/deliveries/<int:delivery_id>/redeliver")
@admin_only
def delivery_redeliver(delivery_id: int) -> Any:
    """Queue one delivery again, with the same webhook-id and body."""
    try:
        info = webhooks_out.redeliver(container().uow(), delivery_id,
                                    now=container().clock.now(), actor=me().actor,
                                    ip=client_ip())
    except webhooks_out.EndpointProblem as exc:
        flash(str(exc))
        return redirect(url_for("staff.admin.endpoint_list"))
    flash(w("deliveries.queued"))
    return redirect(url_for("staff.admin.delivery_list", endpoint_id=info.endpoint_id))


# --- mail, settings, audit ------------------------------------------------------------------

@bp.get("/mail")
@admin_only
def parked_mail_list() -> Any:
    """Show the mail that cannot be sent, with why, and a button to send each again."""
    return page("parked_mail.html", items=parked.list_parked_mail(container().uow()))


@bp.post("/mail/<int:item_id>/send-again")
@admin_only
def parked_mail_send_again(item_id: int) -> Any:
    """Queue a parked message again once its cause is put right."""
    sent = parked.send_again(container().uow(), item_id, now=container().clock.now(),
                             actor=me().actor, ip=client_ip())
    flash(w("parked.queued" if sent else "parked.gone"))
    return redirect(url_for("staff.admin.parked_mail_list"))


@bp.get("/settings")
@admin_only
def settings_page() -> Any:
    """Show the configuration in force (secrets never), and where each is set."""
    return page("settings.html", shown=settings_page_rows(container().settings))


@bp.get("/audit")
@admin_only
def audit_log() -> Any:
    """Browse the audit log, newest first, by what happened, who, which person and when."""
    wanted = audit_words.wanted_from(request.args, container().settings.timezone)
    found = audit.browse(container().uow(), wanted)
    # The filter as typed, kept on the form and on the paging links; empty ones left out.
    shown = {k: v for k in ("action", "who", "contact", "from", "to")
             if (v := (request.args.get(k) or "").strip())}
    return page("audit.html", found=found, shown=shown,
                actions=audit_words.action_choices(lang()),
                who=audit_words.who_choices(lang(), audit.actors(container().uow())),
                detail=lambda d: audit_words.detail_in_words(lang(), d))
