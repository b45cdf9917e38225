"""The `consent source` and `consent webhook` commands: inbound sources, outbound endpoints."""

from __future__ import annotations

import click

from service import cli_wiring


@click.group("source")
def source() -> None:
    """Inbound webhook sources: WordPress form plugins and email providers."""


@source.command("add")
@click.argument("name")
@click.option("--kind", required=True, help="cf7, wpforms, gravityforms, elementor, fluentforms, "
              "generic; or postmark, mailgun, ses, sendgrid, brevo (NAME is then the same).")
@click.option("--map", "mapping", multiple=True, metavar="OURS=THEIRS",
              help="Map one of our fields (email, name, phone, language, consent, channels) "
                   "to the plugin's field name, label or id; a+b joins two fields. Repeatable.")
@click.option("--notice", type=int, help="The notice version the form shows (default: current).")
@click.option("--double-opt-in/--single-opt-in", default=None,
              help="Whether a confirmation email is needed (default: CONSENT_DOUBLE_OPT_IN).")
@click.option("--channel", "channels", multiple=True, type=click.Choice(["email", "sms"]),
              help="Channels consented to when the form has no channel field (default email).")
@click.option("--signing-secret", help="WPForms webhook secret, Mailgun HTTP webhook signing "
              "key, or SendGrid verification public key.")
@click.option("--topic-arn", "topic_arns", multiple=True,
              help="Amazon SES: the SNS topic ARN(s) to accept.")
def source_add(name: str, kind: str, mapping: tuple[str, ...], notice: int | None,
               double_opt_in: bool | None, channels: tuple[str, ...],
               signing_secret: str | None, topic_arns: tuple[str, ...]) -> None:
    """Add a source and print the URL and secret to paste into the plugin or provider."""
    from service.domain import sources

    container = cli_wiring.container()
    try:
        issued = sources.add_source(
            container.uow(), name, kind, now=container.clock.now(),
            mapping=sources.parse_mapping(mapping), notice=notice, double_opt_in=double_opt_in,
            channels=channels or ("email",), signing_secret=signing_secret,
            topic_arns=topic_arns,
        )
    except sources.SourceProblem as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        container.close()
    base = container.settings.public_url
    found = issued.source
    path = f"/webhooks/forms/{found.name}" if found.is_form else f"/webhooks/email/{found.name}"
    click.echo(f"source {found.name!r} ({found.kind.value}) added")
    click.echo(f"  URL:                   {base}{path}")
    if issued.token:
        click.echo(f"  secret (shown once):   {issued.token}")
        click.echo(f"  send it as header:     X-Consent-Secret: {issued.token}")
        click.echo(f"  or in the URL:         {base}{path}?secret={issued.token}")
        if found.kind.value in ("postmark", "brevo"):
            host = base.split("://", 1)[1]
            scheme = base.split("://", 1)[0]
            click.echo(f"  or Basic auth URL:     {scheme}://{found.kind.value}:{issued.token}"
                       f"@{host}{path}")


@source.command("list")
def source_list() -> None:
    """List sources with their kind and field mapping (never their secrets)."""
    from service.domain import sources

    container = cli_wiring.container()
    try:
        found = sources.list_sources(container.uow())
    finally:
        container.close()
    if not found:
        click.echo("no sources; add one with: consent source add NAME --kind cf7")
    for item in found:
        info = item.describe()
        mapping = ", ".join(f"{k}={'|'.join(v)}" for k, v in sorted(info["mapping"].items()))
        opt_in = {None: "default", True: "double", False: "single"}[item.double_opt_in]
        notice = item.notice or "current"
        click.echo(f"{item.name}\t{item.kind.value}\topt-in={opt_in}\tnotice={notice}\t{mapping}")


@source.command("remove")
@click.argument("name")
def source_remove(name: str) -> None:
    """Remove a source: its URL and secret stop working at once."""
    from service.domain import sources

    container = cli_wiring.container()
    try:
        removed = sources.remove_source(container.uow(), name, now=container.clock.now())
    finally:
        container.close()
    if not removed:
        raise click.ClickException(f"no source named {name!r}")
    click.echo(f"source {name!r} removed")


@source.command("rotate")
@click.argument("name")
def source_rotate(name: str) -> None:
    """Give a source a new secret; the old one stops working at once."""
    from service.domain import sources

    container = cli_wiring.container()
    try:
        issued = sources.rotate_token(container.uow(), name, now=container.clock.now())
    except sources.SourceProblem as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        container.close()
    click.echo(f"new secret for {issued.source.name!r} (shown once): {issued.token}")


@click.group("webhook")
def webhook() -> None:
    """Outbound webhook endpoints that receive signed consent events."""


@webhook.command("add")
@click.argument("url")
@click.option("--events", "events", multiple=True, required=True,
              help="Comma-separated: consent.requested, consent.confirmed, consent.granted, "
                   "consent.withdrawn, address.bounced, contact.updated, contact.erased, or all.")
@click.option("--allow-private", is_flag=True,
              help="Allow a loopback, link-local or private address (an internal system).")
@click.option("--include-personal-data", is_flag=True,
              help="Also send the address, name and phone (only to systems allowed them).")
def webhook_add(url: str, events: tuple[str, ...], allow_private: bool,
                include_personal_data: bool) -> None:
    """Add an endpoint and print its signing secret (whsec_...)."""
    from service.domain import webhooks_out
    from webhooks.outbound import resolve_host

    container = cli_wiring.container()
    try:
        info, secret = webhooks_out.add_endpoint(
            container.uow(), url, events, now=container.clock.now(), resolve=resolve_host,
            allow_private=allow_private, include_personal_data=include_personal_data,
        )
    except webhooks_out.EndpointProblem as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        container.close()
    click.echo(f"endpoint {info.id} added: {info.url}")
    click.echo(f"  events: {', '.join(info.events)}")
    click.echo(f"  signing secret (shown once): {secret}")


@webhook.command("list")
def webhook_list() -> None:
    """List endpoints and whether they are active."""
    from service.domain import webhooks_out

    container = cli_wiring.container()
    try:
        found = webhooks_out.list_endpoints(container.uow())
    finally:
        container.close()
    if not found:
        click.echo("no endpoints; add one with: consent webhook add URL --events all")
    for item in found:
        state = "active" if item.disabled_at is None else f"disabled ({item.disabled_reason})"
        flags = [f for f, on in (("private-allowed", item.allow_private),
                                 ("personal-data", item.include_personal_data)) if on]
        click.echo(f"{item.id}\t{item.url}\t{state}\t{','.join(item.events)}\t{' '.join(flags)}")


@webhook.command("remove")
@click.argument("endpoint_id", type=int)
def webhook_remove(endpoint_id: int) -> None:
    """Stop sending to an endpoint (its delivery history is kept)."""
    from service.domain import webhooks_out

    container = cli_wiring.container()
    try:
        info = webhooks_out.remove_endpoint(container.uow(), endpoint_id,
                                          now=container.clock.now())
    except webhooks_out.EndpointProblem as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        container.close()
    click.echo(f"endpoint {info.id} removed: {info.url}")


@webhook.command("rotate-secret")
@click.argument("endpoint_id", type=int)
@click.option("--drop-old", is_flag=True, help="Sign with the new secret only.")
def webhook_rotate(endpoint_id: int, drop_old: bool) -> None:
    """Add a new signing secret; both sign until --drop-old, so the receiver can switch."""
    from service.domain import webhooks_out

    container = cli_wiring.container()
    try:
        secret = webhooks_out.rotate_secret(container.uow(), endpoint_id,
                                          now=container.clock.now(), drop_old=drop_old)
    except webhooks_out.EndpointProblem as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        container.close()
    click.echo(f"new signing secret (shown once): {secret}")


@webhook.command("deliveries")
@click.option("--endpoint", "endpoint_id", type=int, help="Only this endpoint's deliveries.")
@click.option("--limit", default=20, show_default=True)
def webhook_deliveries(endpoint_id: int | None, limit: int) -> None:
    """Show recent deliveries with every attempt."""
    from service.domain import webhooks_out

    container = cli_wiring.container()
    try:
        found = webhooks_out.list_deliveries(container.uow(), endpoint_id=endpoint_id, limit=limit)
    finally:
        container.close()
    for item in found:
        click.echo(f"{item.id}\tendpoint {item.endpoint_id}\t{item.event_type}\t{item.status}"
                   f"\t{item.message_id}")
        for attempt in item.attempts:
            outcome = attempt.status_code if attempt.status_code is not None else attempt.error
            click.echo(f"\t{attempt.attempted_at.isoformat()}\t{outcome}"
                       f"\t{attempt.duration_ms} ms")


@webhook.command("redeliver")
@click.argument("delivery_id", type=int)
def webhook_redeliver(delivery_id: int) -> None:
    """Send one delivery again (same webhook-id and body)."""
    from service.domain import webhooks_out

    container = cli_wiring.container()
    try:
        info = webhooks_out.redeliver(container.uow(), delivery_id, now=container.clock.now())
    except webhooks_out.EndpointProblem as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        container.close()
    click.echo(f"delivery {info.id} ({info.message_id}) queued again")
