"""Staff pages under /staff/: login with two-step verification, verbal consent, the rights
of the person, and the admin pages (accounts, consent wording, API keys, webhook sources and
endpoints, audit log).

Handlers parse the form, call one use case and render; the rules live in service.domain.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar, cast

import segno
from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    flash,
    g,
    get_flashed_messages,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_limiter import Limiter
from flask_wtf.csrf import CSRFError, CSRFProtect

from service import ledger_check, proof_document
from service.bootstrap import Container
from service.domain import (
    apikeys,
    auditlog,
    events_out,
    notices,
    parked,
    proof,
    rights,
    sources,
    staff,
    verbal,
)
from service.domain.normalize import MAX_INT, InvalidInput, whole_number
from service.domain.staff import LoginFailed, LoginStep, StaffInfo
from service.sent_mail import forget_files
from service.web import answers, client_ip
from service.web.staff_text import STAFF_LANGUAGES, field_label, words

# A signed-in session ends after this long without a request, and in any case after the second.
IDLE_TIMEOUT = timedelta(minutes=30)
ABSOLUTE_TIMEOUT = timedelta(hours=12)
# A pending second step (password given, code not yet) must be finished this quickly.
PENDING_TIMEOUT = timedelta(minutes=5)
LOGIN_RATE_LIMIT = "30/minute;300/hour"
STAFF_CSP = ("default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
             "base-uri 'none'; frame-ancestors 'none'")

# The proof pack is one self-contained page: its own inline styles, nothing else.
PROOF_CSP = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; frame-ancestors 'none'"

F = TypeVar("F", bound=Callable[..., Any])
csrf = CSRFProtect()


def session_expired(now: float) -> bool:
    """Tell whether this request's staff session has been idle or open too long."""
    started, seen = float(session.get("auth_at", 0)), float(session.get("seen_at", 0))
    return now - seen > IDLE_TIMEOUT.total_seconds() or \
        now - started > ABSOLUTE_TIMEOUT.total_seconds()


def signed_in_account(container: Container) -> StaffInfo | None:
    """Return the account this request's staff session belongs to, if it is one that holds.

    Reads only: for pages outside /staff/ that show more to staff (the readiness details).
    """
    uid = session.get("uid")
    if uid is None or session_expired(container.clock.now().timestamp()):
        return None
    account = staff.get_account(container.uow(), int(uid))
    return account if staff.session_is_current(account, session.get("epoch")) else None


def init_app(app: Flask, container: Container, limiter: Limiter) -> None:
    """Register the staff pages, the staff API and the receipt's dispute page."""
    # The cookie expires with the longest a staff session may last.
    app.config["PERMANENT_SESSION_LIFETIME"] = ABSOLUTE_TIMEOUT
    # CSRF is checked by the staff blueprint itself: public forms, one-click POSTs and
    # bearer-key APIs have no session to protect and must keep working without a token.
    app.config["WTF_CSRF_CHECK_DEFAULT"] = False
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", int(ABSOLUTE_TIMEOUT.total_seconds()))
    csrf.init_app(app)
    from service.web import dispute, staff_api

    app.register_blueprint(build_blueprint(container, limiter))
    app.register_blueprint(staff_api.build_blueprint(container, limiter))
    app.register_blueprint(dispute.build_blueprint(container, limiter))


def build_blueprint(app_container: Container, limiter: Limiter) -> Blueprint:
    """Return the staff blueprint."""
    bp = Blueprint("staff", __name__, url_prefix="/staff")
    settings = app_container.settings
    deps = app_container.deps

    def now_ts() -> float:
        return app_container.clock.now().timestamp()

    def lang() -> str:
        return str(g.get("staff_language", "fi"))

    def w(key: str, **values: Any) -> str:
        return words(lang(), key, **values)

    def page(template: str, status: int = 200, **context: Any) -> Any:
        return render_template(
            f"staff/{template}", lang=lang(), w=w, me=g.get("staff"), org=settings.organization,
            messages=get_flashed_messages(), label=lambda field: field_label(lang(), field),
            **context,
        ), status

    def problems(exc: InvalidInput) -> dict[str, str]:
        found: dict[str, str] = {}
        for p in exc.problems:
            found.setdefault(p.field, answers.problem_words(lang(), p))
        return found

    @bp.before_request
    def _load_session() -> Any:
        wanted = (request.args.get("lang") or "").lower()
        if wanted in STAFF_LANGUAGES:
            session["lang"] = wanted
        chosen = session.get("lang")
        if chosen not in STAFF_LANGUAGES:
            chosen = settings.default_language if settings.default_language in STAFF_LANGUAGES \
                else "fi"
        g.staff_language = chosen
        g.staff = None
        if request.method not in ("GET", "HEAD", "OPTIONS"):
            csrf.protect()
        uid = session.get("uid")
        if uid is None:
            return None
        now = now_ts()
        if session_expired(now):
            session.clear()
            session["lang"] = chosen
            flash(words(chosen, "login.expired"))
            return None
        account = staff.get_account(app_container.uow(), int(uid))
        if not staff.session_is_current(account, session.get("epoch")):
            # Logged out elsewhere, password changed, TOTP reset or account disabled: a copy
            # of this cookie must stop working too, so the account's epoch decides, not the
            # cookie.
            session.clear()
            session["lang"] = chosen
            flash(words(chosen, "login.expired"))
            return None
        g.staff = account
        session["seen_at"] = now
        return None

    @bp.after_request
    def _headers(response: Response) -> Response:
        response.headers["Content-Security-Policy"] = g.get("csp", STAFF_CSP)
        # The same-origin Referer lets the CSRF check work over https; nothing leaves the site.
        response.headers["Referrer-Policy"] = "same-origin"
        response.headers["Cache-Control"] = "no-store"
        return response

    @bp.errorhandler(CSRFError)
    def _csrf(exc: CSRFError) -> Any:
        return page("message.html", 400, title=w("csrf"), text=w("csrf"))

    @bp.errorhandler(rights.ContactNotFound)
    def _not_found(exc: rights.ContactNotFound) -> Any:
        return page("message.html", 404, title=w("not_found"), text=w("not_found"))

    def signed_in(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if g.staff is None:
                return redirect(url_for("staff.login", next=request.path))
            return view(*args, **kwargs)
        return cast(F, wrapper)

    def admin_only(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if g.staff is None:
                return redirect(url_for("staff.login", next=request.path))
            if not g.staff.is_admin:
                return page("message.html", 403, title=w("forbidden"), text=w("forbidden"))
            return view(*args, **kwargs)
        return cast(F, wrapper)

    def me() -> StaffInfo:
        return cast(StaffInfo, g.staff)

    def start_session(account: StaffInfo) -> Any:
        chosen = lang()
        target = session.get("next")
        session.clear()
        session.permanent = True
        session["uid"] = account.id
        session["epoch"] = account.session_epoch
        session["auth_at"] = session["seen_at"] = now_ts()
        session["lang"] = chosen
        if isinstance(target, str) and target.startswith("/staff/") and "//" not in target:
            return redirect(target)
        return redirect(url_for("staff.search"))

    # --- signing in -------------------------------------------------------------------------

    @bp.get("/")
    def home() -> Any:
        """Send a signed-in person to the search page, anyone else to the login."""
        return redirect(url_for("staff.search" if g.staff else "staff.login"))

    @bp.get("/login")
    def login() -> Any:
        """Show the login form."""
        if g.staff is not None:
            return redirect(url_for("staff.search"))
        nxt = request.args.get("next")
        if nxt:
            session["next"] = nxt
        return page("login.html")

    @bp.post("/login")
    @limiter.limit(LOGIN_RATE_LIMIT)
    def login_post() -> Any:
        """Check the password; continue to the code, to enrolment, or in."""
        try:
            outcome = staff.check_password(
                app_container.uow(), deps, request.form.get("name", ""),
                request.form.get("password", ""), policy=settings.require_totp, ip=client_ip(),
            )
        except LoginFailed:
            return page("login.html", 401, error=w("login.failed"))
        if outcome.step == LoginStep.DONE:
            return start_session(outcome.account)
        nxt = session.get("next")
        session.clear()
        session["lang"] = lang()
        if nxt:
            session["next"] = nxt
        session["pending_uid"] = outcome.account.id
        session["pending_epoch"] = outcome.account.session_epoch
        session["pending_at"] = now_ts()
        session["pending_step"] = outcome.step.value
        if outcome.step == LoginStep.ENROL:
            return redirect(url_for("staff.enrol"))
        return redirect(url_for("staff.code"))

    def pending(step: LoginStep) -> int | None:
        uid = session.get("pending_uid")
        if uid is None or session.get("pending_step") != step.value:
            return None
        if now_ts() - float(session.get("pending_at", 0)) > PENDING_TIMEOUT.total_seconds():
            return None
        # A password change (or disabling) meanwhile ends a half-finished login too.
        if not staff.session_is_current(staff.get_account(app_container.uow(), int(uid)),
                                        session.get("pending_epoch")):
            return None
        return int(uid)

    @bp.get("/login/code")
    def code() -> Any:
        """Ask for the second step."""
        if pending(LoginStep.TOTP) is None:
            return redirect(url_for("staff.login"))
        return page("code.html")

    @bp.post("/login/code")
    @limiter.limit(LOGIN_RATE_LIMIT)
    def code_post() -> Any:
        """Check a TOTP or recovery code and sign in."""
        uid = pending(LoginStep.TOTP)
        if uid is None:
            return redirect(url_for("staff.login"))
        try:
            account = staff.verify_second_factor(app_container.uow(), deps, uid,
                                                 request.form.get("code", ""), ip=client_ip())
        except LoginFailed:
            return page("code.html", 401, error=w("code.failed"))
        return start_session(account)

    def enrolling() -> StaffInfo | None:
        if g.staff is not None:
            return me()
        uid = pending(LoginStep.ENROL)
        if uid is None:
            return None
        return staff.get_account(app_container.uow(), uid)

    def enrol_page(account: StaffInfo, status: int = 200, error: str | None = None) -> Any:
        secret = session.get("enrol_secret")
        if not isinstance(secret, str):
            offer = staff.new_enrolment(account)
            secret = session["enrol_secret"] = offer.secret
        uri = staff.new_enrolment(account, secret).uri
        qr = segno.make(uri, error="m").svg_inline(scale=4, dark="#1b1b1b", light="#ffffff")
        return page("enrol.html", status, qr=qr, secret=secret, error=error,
                    required=g.staff is None)

    @bp.get("/totp")
    def enrol() -> Any:
        """Show the QR code and key of a new TOTP secret."""
        account = enrolling()
        if account is None:
            return redirect(url_for("staff.login"))
        if account.totp_enabled:
            return page("message.html", title=w("enrol.title"), text=w("enrol.enabled"))
        return enrol_page(account)

    @bp.post("/totp")
    @limiter.limit(LOGIN_RATE_LIMIT)
    def enrol_post() -> Any:
        """Turn two-step login on once a code from the new secret checks."""
        account = enrolling()
        secret = session.get("enrol_secret")
        if account is None or not isinstance(secret, str):
            return redirect(url_for("staff.login"))
        try:
            info, codes = staff.confirm_enrolment(app_container.uow(), deps, account.id, secret,
                                                  request.form.get("code", ""), ip=client_ip())
        except InvalidInput as exc:
            return enrol_page(account, 422, error=problems(exc).get("code"))
        session.pop("enrol_secret", None)
        if g.staff is None:
            start_session(info)
        return page("recovery.html", codes=codes)

    @bp.post("/logout")
    def logout() -> Any:
        """End every session of the account, this one and any copy of its cookie."""
        if g.staff is not None:
            staff.log_out(app_container.uow(), deps, me(), ip=client_ip())
        chosen = lang()
        session.clear()
        session["lang"] = chosen
        return redirect(url_for("staff.login"))

    @bp.get("/account")
    @signed_in
    def account() -> Any:
        """Show the signed-in person's own account."""
        return page("account.html", errors={})

    @bp.post("/account/password")
    @signed_in
    @limiter.limit(LOGIN_RATE_LIMIT)
    def change_password() -> Any:
        """Change one's own password (the current one is asked again)."""
        new = request.form.get("new", "")
        if new != request.form.get("again", ""):
            return page("account.html", 422, errors={"again": w("account.mismatch")})
        try:
            changed = staff.change_password(app_container.uow(), deps, me().id,
                                            request.form.get("current", ""), new, ip=client_ip())
        except InvalidInput as exc:
            return page("account.html", 422, errors=problems(exc))
        except LoginFailed:
            return page("account.html", 401, errors={"current": w("account.wrong")})
        # Every other session has ended; this one has just proven the password and goes on.
        session["epoch"] = changed.session_epoch
        flash(w("account.changed"))
        return redirect(url_for("staff.account"))

    # --- people -----------------------------------------------------------------------------

    @bp.route("/contacts", methods=["GET", "POST"])
    @signed_in
    def search() -> Any:
        """Search by email, name or phone; list contacts flagged for checking.

        The form POSTs the words searched for (with its CSRF token), so they stay out of the
        address and thus out of access logs, proxies' logs and the browser's history. A GET
        with ?q= still searches, for links made before; the access log hides its value.
        """
        source = request.form if request.method == "POST" else request.args
        query = (source.get("q") or "").strip()
        results = None
        errors: dict[str, str] = {}
        if query:
            try:
                results = rights.search(app_container.uow(), deps, query, me().actor,
                                        ip=client_ip())
            except InvalidInput as exc:
                errors = problems(exc)
        return page("search.html", query=query, results=results, errors=errors,
                    flagged=rights.flagged(app_container.uow()),
                    parked_mail=parked.count_parked_mail(app_container.uow()))

    def notice_choices(language: str) -> tuple[list[notices.NoticeVersion], int]:
        versions = notices.list_versions(app_container.uow())
        return versions, versions[0].version if versions else 1

    @bp.get("/consents/new")
    @signed_in
    def verbal_form() -> Any:
        """Show the verbal consent form with the wording to read out."""
        versions, current = notice_choices(lang())
        shown = request.args.get("notice", "")
        return page("verbal.html", versions=versions, current=current, errors={},
                    form={"notice": shown} if whole_number(shown) is not None else {})

    @bp.post("/consents/new")
    @signed_in
    def verbal_post() -> Any:
        """Record a consent given out loud, with the signed-in person as witness."""
        fields: dict[str, Any] = {k: request.form.get(k) for k in
                                  ("name", "email", "phone", "language", "method", "notice",
                                   "note")}
        fields["channels"] = request.form.getlist("channels")
        try:
            form = verbal.parse_verbal_consent(fields, default_language=settings.default_language)
            outcome = verbal.record_verbal_consent(
                app_container.uow(), deps, form, me().actor, witness=me().name, ip=client_ip(),
                user_agent=request.user_agent.string or None, source="staff",
            )
        except InvalidInput as exc:
            versions, current = notice_choices(lang())
            return page("verbal.html", 422, versions=versions, current=current, form=fields,
                        errors=problems(exc))
        flash(w("verbal.done") + (" " + w("verbal.receipt") if outcome.receipt_sent else ""))
        return redirect(url_for("staff.contact", public_id=outcome.contact_id))

    @bp.get("/contacts/<public_id>")
    @signed_in
    def contact(public_id: str) -> Any:
        """Show everything held on a person (the viewing is logged)."""
        record = rights.view_contact(app_container.uow(), deps, public_id, me().actor,
                                     ip=client_ip())
        return page("contact.html", record=record, public_id=public_id,
                    errors={}, form=record["contact"])

    @bp.post("/contacts/<public_id>/correct")
    @signed_in
    def correct(public_id: str) -> Any:
        """Correct name, email, phone or language, keeping the old values."""
        wanted = rights.Correction(
            email=request.form.get("email"), name=request.form.get("name"),
            phone=request.form.get("phone"), language=request.form.get("language"),
        )
        try:
            rights.correct_contact(app_container.uow(), deps, public_id, wanted, me().actor,
                                   ip=client_ip())
        except InvalidInput as exc:
            record = rights.view_contact(app_container.uow(), deps, public_id, me().actor,
                                         ip=client_ip())
            return page("contact.html", 422, record=record, public_id=public_id,
                        errors=problems(exc), form=request.form)
        flash(w("contact.corrected"))
        return redirect(url_for("staff.contact", public_id=public_id))

    @bp.post("/contacts/<public_id>/withdraw")
    @signed_in
    def withdraw(public_id: str) -> Any:
        """Withdraw the chosen channels on the person's request."""
        try:
            rights.withdraw(app_container.uow(), deps, public_id,
                            request.form.getlist("channels"), me().actor, ip=client_ip(),
                            note=(request.form.get("note") or "").strip()[:1000] or None)
        except InvalidInput as exc:
            flash("; ".join(f"{field_label(lang(), k)}: {v}" for k, v in problems(exc).items()))
            return redirect(url_for("staff.contact", public_id=public_id))
        flash(w("contact.withdrawn"))
        return redirect(url_for("staff.contact", public_id=public_id))

    @bp.post("/contacts/<public_id>/unflag")
    @signed_in
    def unflag(public_id: str) -> Any:
        """Mark a flagged person as checked."""
        rights.clear_flag(app_container.uow(), deps, public_id, me().actor, ip=client_ip())
        return redirect(url_for("staff.contact", public_id=public_id))

    @bp.get("/contacts/<public_id>/export.<fmt>")
    @signed_in
    def export(public_id: str, fmt: str) -> Any:
        """Download everything held on a person as JSON, CSV or JSON-LD (the export is logged)."""
        if fmt not in rights.EXPORT_FORMATS:
            abort(404)
        body = rights.export_contact(app_container.uow(), deps, public_id, me().actor,
                                     ip=client_ip(), fmt=fmt)
        return Response(body, mimetype=rights.EXPORT_MEDIA_TYPES[fmt], headers={
            "Content-Disposition": f'attachment; filename="contact-{public_id}.{fmt}"'})

    @bp.get("/contacts/<public_id>/proof.<fmt>")
    @signed_in
    def proof_pack(public_id: str, fmt: str) -> Any:
        """The person's proof pack (HTML to read, PDF to send); producing it is logged."""
        if fmt not in ("html", "pdf"):
            abort(404)
        checked = proof.Verification.of(ledger_check.verify_now(app_container))
        pack = proof.proof_pack(app_container.uow(), deps, public_id, me().actor,
                                verification=checked, ip=client_ip())
        html = proof_document.render_html(pack, lang())
        if fmt == "html":
            # A self-contained document: its own styles, nothing fetched.
            g.csp = PROOF_CSP
            return Response(html, mimetype="text/html")
        return Response(proof_document.render_pdf(html), mimetype="application/pdf", headers={
            "Content-Disposition": f'attachment; filename="proof-{public_id}.pdf"'})

    @bp.get("/contacts/<public_id>/erase")
    @signed_in
    def erase_form(public_id: str) -> Any:
        """Ask for confirmation before erasing."""
        return page("erase.html", public_id=public_id, error=None)

    @bp.post("/contacts/<public_id>/erase")
    @signed_in
    def erase(public_id: str) -> Any:
        """Erase the person once the confirmation box is ticked."""
        if request.form.get("confirm") != "yes":
            return page("erase.html", 422, public_id=public_id, error=w("erase.need_confirm"))
        rights.erase_contact(app_container.uow(), deps, public_id, me().actor, ip=client_ip(),
                             forget_messages=forget_files(app_container.mailer))
        return page("message.html", title=w("erase.done"), text=w("erase.done"))

    # --- administration ---------------------------------------------------------------------

    @bp.get("/admin/accounts")
    @admin_only
    def accounts() -> Any:
        """List accounts and offer a form for a new one."""
        return page("accounts.html", accounts=staff.list_accounts(app_container.uow()),
                    errors={}, form={})

    @bp.post("/admin/accounts")
    @admin_only
    def accounts_post() -> Any:
        """Create an account."""
        try:
            staff.create_account(app_container.uow(), deps, request.form.get("name", ""),
                                 request.form.get("password", ""),
                                 admin=request.form.get("admin") == "yes", actor=me().actor,
                                 ip=client_ip())
        except InvalidInput as exc:
            return page("accounts.html", 422, accounts=staff.list_accounts(app_container.uow()),
                        errors=problems(exc), form={"name": request.form.get("name", "")})
        flash(w("accounts.created"))
        return redirect(url_for("staff.accounts"))

    @bp.post("/admin/accounts/<int:account_id>/<action>")
    @admin_only
    def account_action(account_id: int, action: str) -> Any:
        """Disable, enable or reset the two-step login of an account."""
        uow, actor, ip = app_container.uow(), me().actor, client_ip()
        if action == "disable" and account_id != me().id:
            staff.set_disabled(uow, deps, account_id, True, actor=actor, ip=ip)
        elif action == "enable":
            staff.set_disabled(uow, deps, account_id, False, actor=actor, ip=ip)
        elif action == "reset-totp":
            staff.reset_totp(uow, deps, account_id, actor=actor, ip=ip)
        else:
            abort(404)
        return redirect(url_for("staff.accounts"))

    @bp.get("/admin/notices")
    @admin_only
    def notice_list() -> Any:
        """List consent wording versions; offer a form for the next one."""
        versions = notices.list_versions(app_container.uow())
        return page("notices.html", versions=versions, errors={},
                    form=versions[0].texts if versions else {})

    @bp.post("/admin/notices")
    @admin_only
    def notice_publish() -> Any:
        """Publish the next version of the consent wording."""
        texts = {lang_: request.form.get(lang_, "") for lang_ in ("fi", "sv", "en")}
        try:
            notices.publish(app_container.uow(), deps, texts, me().actor, ip=client_ip())
        except InvalidInput as exc:
            return page("notices.html", 422, versions=notices.list_versions(app_container.uow()),
                        errors=problems(exc), form=texts)
        flash(w("notices.published"))
        return redirect(url_for("staff.notice_list"))

    @bp.get("/admin/apikeys")
    @admin_only
    def api_keys() -> Any:
        """List API keys (never the keys themselves) and offer a form for a new one."""
        return page("apikeys.html", keys=apikeys.list_keys(app_container.uow()), issued=None,
                    errors={})

    @bp.post("/admin/apikeys")
    @admin_only
    def api_keys_post() -> Any:
        """Issue a key and show it once."""
        try:
            issued = apikeys.create_key(app_container.uow(), request.form.get("name", ""),
                                        request.form.get("role", ""),
                                        now=app_container.clock.now(), actor=me().actor,
                                        ip=client_ip())
        except InvalidInput as exc:
            return page("apikeys.html", 422, keys=apikeys.list_keys(app_container.uow()),
                        issued=None, errors=problems(exc))
        return page("apikeys.html", keys=apikeys.list_keys(app_container.uow()),
                    issued=issued, errors={})

    @bp.post("/admin/apikeys/<int:key_id>/revoke")
    @admin_only
    def api_key_revoke(key_id: int) -> Any:
        """Revoke a key; it stops working at once."""
        apikeys.revoke_key(app_container.uow(), str(key_id), now=app_container.clock.now(),
                           actor=me().actor, ip=client_ip())
        return redirect(url_for("staff.api_keys"))

    # --- webhooks: form sources in, consent events out ------------------------------------------

    def sources_page(status: int = 200, *, issued: sources.IssuedSource | None = None,
                     errors: dict[str, str] | None = None,
                     form: dict[str, Any] | None = None) -> Any:
        return page("sources.html", status, sources=sources.list_sources(app_container.uow()),
                    versions=notices.list_versions(app_container.uow()), issued=issued,
                    errors=errors or {}, form=form or {},
                    form_kinds=[k.value for k in sources.FORM_KINDS],
                    provider_kinds=[k.value for k in sources.PROVIDER_KINDS],
                    base=settings.public_url)

    @bp.get("/admin/sources")
    @admin_only
    def source_list() -> Any:
        """List inbound sources (never their secrets) and offer a form for a new one."""
        return sources_page()

    @bp.post("/admin/sources")
    @admin_only
    def source_add() -> Any:
        """Add a source and show its URL and secret once."""
        form = {k: (request.form.get(k) or "").strip() for k in
                ("name", "kind", "mapping", "notice", "opt_in", "signing_secret", "topic_arns")}
        opt_in = {"double": True, "single": False}.get(form["opt_in"])
        try:
            issued = sources.add_source(
                app_container.uow(), form["name"], form["kind"], now=app_container.clock.now(),
                mapping=sources.parse_mapping(form["mapping"].splitlines()),
                notice=whole_number(form["notice"], low=1, high=MAX_INT),
                double_opt_in=opt_in, channels=request.form.getlist("channels") or ("email",),
                signing_secret=form["signing_secret"] or None,
                topic_arns=form["topic_arns"].split(), actor=me().actor, ip=client_ip(),
            )
        except sources.SourceProblem as exc:
            return sources_page(422, errors={"source": str(exc)}, form=form)
        return sources_page(issued=issued)

    @bp.post("/admin/sources/<name>/rotate")
    @admin_only
    def source_rotate(name: str) -> Any:
        """Give a source a new secret and show it once; the old one stops working."""
        try:
            issued = sources.rotate_token(app_container.uow(), name,
                                          now=app_container.clock.now(), actor=me().actor,
                                          ip=client_ip())
        except sources.SourceProblem as exc:
            return sources_page(422, errors={"source": str(exc)})
        return sources_page(issued=issued)

    @bp.post("/admin/sources/<name>/remove")
    @admin_only
    def source_remove(name: str) -> Any:
        """Remove a source; its URL stops working at once."""
        if not sources.remove_source(app_container.uow(), name, now=app_container.clock.now(),
                                     actor=me().actor, ip=client_ip()):
            abort(404)
        flash(w("sources.removed"))
        return redirect(url_for("staff.source_list"))

    def endpoints_page(status: int = 200, *, secret: tuple[int, str] | None = None,
                       errors: dict[str, str] | None = None,
                       form: dict[str, Any] | None = None) -> Any:
        return page("webhooks.html", status,
                    endpoints=events_out.list_endpoints(app_container.uow()),
                    event_types=events_out.EVENT_TYPES, secret=secret, errors=errors or {},
                    form=form or {})

    @bp.get("/admin/webhooks")
    @admin_only
    def endpoint_list() -> Any:
        """List outbound endpoints and offer a form for a new one."""
        return endpoints_page()

    @bp.post("/admin/webhooks")
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
            info, secret = events_out.add_endpoint(
                app_container.uow(), form["url"], form["events"], now=app_container.clock.now(),
                resolve=resolve_host, allow_private=form["allow_private"],
                include_personal_data=form["include_personal_data"], actor=me().actor,
                ip=client_ip(),
            )
        except events_out.EndpointProblem as exc:
            return endpoints_page(422, errors={"url": str(exc)}, form=form)
        return endpoints_page(secret=(info.id, secret))

    @bp.post("/admin/webhooks/<int:endpoint_id>/<action>")
    @admin_only
    def endpoint_action(endpoint_id: int, action: str) -> Any:
        """Rotate the secret of, disable, enable or delete an endpoint."""
        uow, now, actor, ip = app_container.uow(), app_container.clock.now(), me().actor, \
            client_ip()
        try:
            if action == "rotate":
                secret = events_out.rotate_secret(
                    uow, endpoint_id, now=now, drop_old=request.form.get("drop_old") == "yes",
                    actor=actor, ip=ip)
                return endpoints_page(secret=(endpoint_id, secret))
            if action in ("disable", "enable"):
                events_out.set_enabled(uow, endpoint_id, action == "enable", now=now,
                                       actor=actor, ip=ip)
            elif action == "delete":
                events_out.delete_endpoint(uow, endpoint_id, now=now, actor=actor, ip=ip)
                flash(w("webhooks.deleted"))
            else:
                abort(404)
        except events_out.EndpointProblem:
            abort(404)
        return redirect(url_for("staff.endpoint_list"))

    @bp.get("/admin/webhooks/<int:endpoint_id>/deliveries")
    @admin_only
    def delivery_list(endpoint_id: int) -> Any:
        """Show an endpoint's recent deliveries with every attempt."""
        try:
            endpoint = events_out.get_endpoint(app_container.uow(), endpoint_id)
        except events_out.EndpointProblem:
            abort(404)
        return page("deliveries.html", endpoint=endpoint,
                    deliveries=events_out.list_deliveries(app_container.uow(),
                                                          endpoint_id=endpoint_id))

    @bp.post("/admin/webhooks/deliveries/<int:delivery_id>/redeliver")
    @admin_only
    def delivery_redeliver(delivery_id: int) -> Any:
        """Queue one delivery again, with the same webhook-id and body."""
        try:
            info = events_out.redeliver(app_container.uow(), delivery_id,
                                        now=app_container.clock.now(), actor=me().actor,
                                        ip=client_ip())
        except events_out.EndpointProblem as exc:
            flash(str(exc))
            return redirect(url_for("staff.endpoint_list"))
        flash(w("deliveries.queued"))
        return redirect(url_for("staff.delivery_list", endpoint_id=info.endpoint_id))

    @bp.get("/admin/mail")
    @admin_only
    def parked_mail_list() -> Any:
        """Show the mail that cannot be sent, with why, and a button to send each again."""
        return page("parked_mail.html", items=parked.list_parked_mail(app_container.uow()))

    @bp.post("/admin/mail/<int:item_id>/send-again")
    @admin_only
    def parked_mail_send_again(item_id: int) -> Any:
        """Queue a parked message again once its cause is put right."""
        sent = parked.send_again(app_container.uow(), item_id, now=app_container.clock.now(),
                                 actor=me().actor, ip=client_ip())
        flash(w("parked.queued" if sent else "parked.gone"))
        return redirect(url_for("staff.parked_mail_list"))

    @bp.get("/admin/settings")
    @admin_only
    def settings_page() -> Any:
        """Show the configuration in force (secrets never), and where each is set."""
        shown = [
            ("CONSENT_ORGANIZATION", settings.organization),
            ("CONSENT_PUBLIC_URL", settings.public_url),
            ("CONSENT_MAIL_FROM", settings.mail_from),
            ("CONSENT_SMTP_URL", "set" if settings.smtp_url else "unset (.eml files)"),
            ("CONSENT_PRIVACY_URL", settings.privacy_url or "unset"),
            ("CONSENT_ORGANIZATION_ADDRESS", settings.organization_address or "unset"),
            ("CONSENT_DOUBLE_OPT_IN", str(settings.double_opt_in).lower()),
            ("CONSENT_DEFAULT_LANGUAGE", settings.default_language),
            ("CONSENT_TIMEZONE", settings.timezone),
            ("CONSENT_ALLOWED_ORIGINS", ", ".join(settings.allowed_origins) or "none"),
            ("CONSENT_REQUIRE_TOTP", settings.require_totp),
            ("CONSENT_WORKSHEET", settings.worksheet),
            ("CONSENT_GOOGLE_CREDENTIALS", "set" if settings.google_credentials
             else "unset (local file mirror)"),
            ("CONSENT_DATABASE_URL", "PostgreSQL" if settings.is_postgresql else "SQLite"),
        ]
        return page("settings.html", shown=shown)

    @bp.get("/admin/audit")
    @admin_only
    def audit_log() -> Any:
        """Browse and filter the audit log, newest first."""
        before = request.args.get("before", "")
        wanted = auditlog.AuditFilter(
            action=(request.args.get("action") or "").strip() or None,
            actor=(request.args.get("actor") or "").strip() or None,
            contact=(request.args.get("contact") or "").strip() or None,
            before=whole_number(before),
        )
        lines = auditlog.browse(app_container.uow(), wanted)
        older = lines[-1].id if len(lines) == auditlog.PAGE else None
        return page("audit.html", lines=lines, wanted=wanted, older=older)

    return bp

