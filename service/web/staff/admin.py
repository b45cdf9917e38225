"""The admin pages: accounts, consent wording, API keys, form sources, outbound webhooks,
parked mail, the settings in force and the audit log."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, request, url_for

from service.domain import apikeys, audit, notices, parked, sources, staff, webhooks_out
from service.domain.languages import LANGUAGES
from service.domain.normalize import MAX_INT, InvalidInput, whole_number
from service.settings import settings_page_rows
from service.web.current import client_ip, container
from service.web.staff.pages import admin_only, me, page, problems, w

bp = Blueprint("admin", __name__, url_prefix="/admin")


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


@bp.post("/accounts/<int:account_id>/<action>")
@admin_only
def account_action(account_id: int, action: str) -> Any:
    """Disable, enable or reset the two-step login of an account."""
    uow, deps, actor, ip = container().uow(), container().deps, me().actor, client_ip()
    if action == "disable" and account_id != me().id:
        staff.set_disabled(uow, deps, account_id, True, actor=actor, ip=ip)
    elif action == "enable":
        staff.set_disabled(uow, deps, account_id, False, actor=actor, ip=ip)
    elif action == "reset-totp":
        staff.reset_totp(uow, deps, account_id, actor=actor, ip=ip)
    else:
        abort(404)
    return redirect(url_for("staff.admin.accounts"))


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


@bp.post("/apikeys/<int:key_id>/revoke")
@admin_only
def api_key_revoke(key_id: int) -> Any:
    """Revoke a key; it stops working at once."""
    apikeys.revoke_key(container().uow(), str(key_id), now=container().clock.now(),
                       actor=me().actor, ip=client_ip())
    return redirect(url_for("staff.admin.api_keys"))


# --- webhooks: form sources in, consent events out ------------------------------------------

def sources_page(status: int = 200, *, issued: sources.IssuedSource | None = None,
                 errors: dict[str, str] | None = None,
                 form: dict[str, Any] | None = None) -> Any:
    """Show the sources page, with a new secret to show once, or a form's problems."""
    return page("sources.html", status, sources=sources.list_sources(container().uow()),
                versions=notices.list_versions(container().uow()), issued=issued,
                errors=errors or {}, form=form or {},
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


@bp.post("/sources/<name>/rotate")
@admin_only
def source_rotate(name: str) -> Any:
    """Give a source a new secret and show it once; the old one stops working."""
    try:
        issued = sources.rotate_token(container().uow(), name, now=container().clock.now(),
                                      actor=me().actor, ip=client_ip())
    except sources.SourceProblem as exc:
        return sources_page(422, errors={"source": str(exc)})
    return sources_page(issued=issued)


@bp.post("/sources/<name>/remove")
@admin_only
def source_remove(name: str) -> Any:
    """Remove a source; its URL stops working at once."""
    if not sources.remove_source(container().uow(), name, now=container().clock.now(),
                                 actor=me().actor, ip=client_ip()):
        abort(404)
    flash(w("sources.removed"))
    return redirect(url_for("staff.admin.source_list"))


def endpoints_page(status: int = 200, *, secret: tuple[int, str] | None = None,
                   errors: dict[str, str] | None = None,
                   form: dict[str, Any] | None = None) -> Any:
    """Show the outbound endpoints, with a new secret to show once, or a form's problems."""
    return page("webhooks.html", status,
                endpoints=webhooks_out.list_endpoints(container().uow()),
                event_types=webhooks_out.EVENT_TYPES, secret=secret, errors=errors or {},
                form=form or {})


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


@bp.post("/webhooks/<int:endpoint_id>/<action>")
@admin_only
def endpoint_action(endpoint_id: int, action: str) -> Any:
    """Rotate the secret of, disable, enable or delete an endpoint."""
    uow, now, actor, ip = container().uow(), container().clock.now(), me().actor, client_ip()
    try:
        if action == "rotate":
            secret = webhooks_out.rotate_secret(
                uow, endpoint_id, now=now, drop_old=request.form.get("drop_old") == "yes",
                actor=actor, ip=ip)
            return endpoints_page(secret=(endpoint_id, secret))
        if action in ("disable", "enable"):
            webhooks_out.set_enabled(uow, endpoint_id, action == "enable", now=now,
                                   actor=actor, ip=ip)
        elif action == "delete":
            webhooks_out.delete_endpoint(uow, endpoint_id, now=now, actor=actor, ip=ip)
            flash(w("webhooks.deleted"))
        else:
            abort(404)
    except webhooks_out.EndpointProblem:
        abort(404)
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
    """Browse and filter the audit log, newest first."""
    before = request.args.get("before", "")
    wanted = audit.AuditFilter(
        action=(request.args.get("action") or "").strip() or None,
        actor=(request.args.get("actor") or "").strip() or None,
        contact=(request.args.get("contact") or "").strip() or None,
        before=whole_number(before),
    )
    lines = audit.browse(container().uow(), wanted)
    older = lines[-1].id if len(lines) == audit.PAGE else None
    return page("audit.html", lines=lines, wanted=wanted, older=older)
