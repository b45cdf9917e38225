"""The person's pages: search, everything held on one person, verbal consent, corrections,
withdrawals, flags, exports, the proof pack and erasure."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, abort, flash, g, redirect, request, url_for

from service import ledger_check, proof_document
from service.domain import notices, proof, rights, verbal
from service.domain.normalize import InvalidInput, whole_number
from service.sent_mail import forget_files
from service.web.current import client_ip, container
from service.web.staff.overview import overview
from service.web.staff.pages import lang, me, page, problems, signed_in, w
from service.web.staff.words import field_label

# The proof pack is one self-contained page: its own inline styles, nothing else.
PROOF_CSP = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; frame-ancestors 'none'"

bp = Blueprint("people", __name__)


@bp.route("/contacts", methods=["GET", "POST"])
@signed_in
def search() -> Any:
    """Search by email, name or phone; show the overview and the contacts flagged for checking.

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
            results = rights.search(container().uow(), container().deps, query, me().actor,
                                    ip=client_ip())
        except InvalidInput as exc:
            errors = problems(exc)
    # The overview is the home page's; a search answer shows its results instead.
    glance = overview() if results is None else {}
    return page("search.html", query=query, results=results, errors=errors,
                flagged=rights.flagged(container().uow()), **glance)


def verbal_page(form: dict[str, Any], status: int = 200,
                errors: dict[str, str] | None = None) -> Any:
    """Render the verbal consent form with the wording in the person's language."""
    versions = notices.list_versions(container().uow())
    current = versions[0].version if versions else 1
    chosen = whole_number(str(form.get("notice") or "")) or current
    language = verbal.form_language(form, default_language=container().settings.default_language)
    wording = next((verbal.wording_to_read(v.texts, v.version, language)
                    for v in versions if v.version == chosen and v.texts), None)
    return page("verbal.html", status, versions=versions, current=current, chosen=chosen,
                language=language, wording=wording, form=form, errors=errors or {})


@bp.get("/consents/new")
@signed_in
def verbal_form() -> Any:
    """Show the verbal consent form with the wording to read out."""
    shown = request.args.get("notice", "")
    return verbal_page({"notice": shown} if whole_number(shown) is not None else {})


@bp.post("/consents/new")
@signed_in
def verbal_post() -> Any:
    """Record a consent given out loud, with the signed-in person as witness.

    The "show the wording" button posts here too: it redraws the form in the chosen
    language, keeping what was typed (and out of the address), and records nothing.
    """
    fields: dict[str, Any] = {k: request.form.get(k) for k in
                              ("name", "email", "phone", "language", "method", "notice",
                               "note")}
    fields["channels"] = request.form.getlist("channels")
    if request.form.get("show_wording"):
        return verbal_page(fields)
    app_container = container()
    try:
        form = verbal.parse_verbal_consent(
            fields, default_language=app_container.settings.default_language)
        outcome = verbal.record_verbal_consent(
            app_container.uow(), app_container.deps, form, me().actor, witness=me().name,
            ip=client_ip(), user_agent=request.user_agent.string or None, source="staff",
        )
    except InvalidInput as exc:
        return verbal_page(fields, 422, problems(exc))
    flash(w("verbal.done") + (" " + w("verbal.receipt") if outcome.receipt_sent else ""))
    return redirect(url_for("staff.people.contact", public_id=outcome.contact_id))


@bp.get("/contacts/<public_id>")
@signed_in
def contact(public_id: str) -> Any:
    """Show everything held on a person (the viewing is logged)."""
    record = rights.view_contact(container().uow(), container().deps, public_id, me().actor,
                                 ip=client_ip())
    return page("contact.html", record=record, public_id=public_id, errors={},
                form=record["contact"],
                withdrawable=rights.withdrawable_channels(record["subscriptions"]))


@bp.post("/contacts/<public_id>/correct")
@signed_in
def correct(public_id: str) -> Any:
    """Correct name, email, phone or language, keeping the old values."""
    wanted = rights.Correction(
        email=request.form.get("email"), name=request.form.get("name"),
        phone=request.form.get("phone"), language=request.form.get("language"),
    )
    try:
        rights.correct_contact(container().uow(), container().deps, public_id, wanted,
                               me().actor, ip=client_ip())
    except InvalidInput as exc:
        record = rights.view_contact(container().uow(), container().deps, public_id,
                                     me().actor, ip=client_ip())
        return page("contact.html", 422, record=record, public_id=public_id,
                    errors=problems(exc), form=request.form,
                    withdrawable=rights.withdrawable_channels(record["subscriptions"]))
    flash(w("contact.corrected"))
    return redirect(url_for("staff.people.contact", public_id=public_id))


@bp.post("/contacts/<public_id>/withdraw")
@signed_in
def withdraw(public_id: str) -> Any:
    """Withdraw the chosen channels on the person's request."""
    try:
        changed = rights.withdraw(container().uow(), container().deps, public_id,
                                  request.form.getlist("channels"), me().actor, ip=client_ip(),
                                  note=(request.form.get("note") or "").strip()[:1000] or None)
    except InvalidInput as exc:
        flash("; ".join(f"{field_label(lang(), k)}: {v}" for k, v in problems(exc).items()))
        return redirect(url_for("staff.people.contact", public_id=public_id))
    flash(w("contact.withdrawn") if changed else w("contact.nothing_changed"))
    return redirect(url_for("staff.people.contact", public_id=public_id))


@bp.post("/contacts/<public_id>/unflag")
@signed_in
def unflag(public_id: str) -> Any:
    """Mark a flagged person as checked."""
    rights.clear_flag(container().uow(), container().deps, public_id, me().actor,
                      ip=client_ip())
    return redirect(url_for("staff.people.contact", public_id=public_id))


@bp.get("/contacts/<public_id>/export.<fmt>")
@signed_in
def export(public_id: str, fmt: str) -> Any:
    """Download everything held on a person as JSON, CSV or JSON-LD (the export is logged)."""
    if fmt not in rights.EXPORT_FORMATS:
        abort(404)
    # The CSV, which people open, in words of the page's language; JSON stays for programs.
    body = rights.export_contact(container().uow(), container().deps, public_id, me().actor,
                                 ip=client_ip(), fmt=fmt,
                                 language=lang() if fmt == "csv" else None)
    return Response(body, mimetype=rights.EXPORT_MEDIA_TYPES[fmt], headers={
        "Content-Disposition": f'attachment; filename="contact-{public_id}.{fmt}"'})


@bp.get("/contacts/<public_id>/proof.<fmt>")
@signed_in
def proof_pack(public_id: str, fmt: str) -> Any:
    """The person's proof pack (HTML to read, PDF to send); producing it is logged."""
    if fmt not in ("html", "pdf"):
        abort(404)
    app_container = container()
    checked = proof.Verification.of(ledger_check.verify_now(app_container))
    pack = proof.proof_pack(app_container.uow(), app_container.deps, public_id, me().actor,
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
    rights.erase_contact(container().uow(), container().deps, public_id, me().actor,
                         ip=client_ip(), forget_messages=forget_files(container().mailer))
    return page("message.html", title=w("erase.done"), text=w("erase.done"))
