"""The proof pack as a document: HTML for the screen, PDF to send (WeasyPrint).

Both the staff page and `consent proof` lay the pack out here, in the staff member's language
(Finnish, Swedish or English), with times in the practice's zone and words instead of codes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape

from service.domain.languages import LANGUAGES
from service.domain.proof import ProofPack

TEMPLATES = Path(__file__).parent / "proof_templates"

# (fi, sv, en)
WORDS: dict[str, tuple[str, str, str]] = {
    "title": ("Todiste suostumuksesta", "Bevis på samtycke", "Proof of consent"),
    "made": ("Laadittu", "Upprättat", "Made"),
    "zone": ("Ajat vyöhykkeellä", "Tider i zonen", "Times in the zone"),
    "person": ("Henkilö", "Person", "Person"),
    "id": ("Tunniste", "Identifierare", "Identifier"),
    "email": ("Sähköposti", "E-post", "Email"),
    "phone": ("Puhelin", "Telefon", "Phone"),
    "name": ("Nimi", "Namn", "Name"),
    "language": ("Kieli", "Språk", "Language"),
    "now": ("Tilanne nyt", "Läget nu", "The state now"),
    "since": ("alkaen", "sedan", "since"),
    "events": ("Suostumustapahtumat", "Samtyckeshändelser", "Consent events"),
    "when": ("Aika", "Tid", "When"),
    "channel": ("Kanava", "Kanal", "Channel"),
    "what": ("Mitä tapahtui", "Vad hände", "What happened"),
    "how": ("Miten", "Hur", "How"),
    "who": ("Kuka", "Vem", "Who"),
    "source": ("Lähde", "Källa", "Source"),
    "wording": ("Näytetty teksti", "Visad text", "Wording shown"),
    "version": ("versio", "version", "version"),
    "wording_hash": ("tekstin SHA-256", "textens SHA-256", "SHA-256 of the wording"),
    "no_wording": ("Ei tekstiä tähän tapahtumaan.", "Ingen text för händelsen.",
                   "No wording for this event."),
    "evidence": ("Todisteet", "Bevis", "Evidence"),
    "no_evidence": ("Todisteita ei enää säilytetä (poistettu säilytysaikojen mukaan).",
                    "Bevisen sparas inte längre (raderade enligt lagringstiderna).",
                    "The evidence is no longer held (removed as the retention rules say)."),
    "ip": ("IP-osoite", "IP-adress", "IP address"),
    "source_ip": ("Lähettäneen palvelimen IP", "Sändande serverns IP", "Sending server's IP"),
    "user_agent": ("Selain", "Webbläsare", "Browser"),
    "page_url": ("Sivu", "Sida", "Page"),
    "fields": ("Lähetetyt tiedot", "Inskickade uppgifter", "What was submitted"),
    "note": ("Huomautus", "Anteckning", "Note"),
    "chain": ("Paikka ketjussa", "Plats i kedjan", "Place in the chain"),
    "position": ("kohta", "position", "position"),
    "hash": ("tiiviste", "hash", "hash"),
    "previous": ("edellinen", "föregående", "previous"),
    "checkpoint": ("Kattava tarkistuspiste", "Täckande kontrollpunkt", "Covering checkpoint"),
    "no_checkpoint": ("Ei vielä tarkistuspistettä (seuraava tehdään vuorokauden sisällä).",
                      "Ingen kontrollpunkt än (nästa görs inom ett dygn).",
                      "No checkpoint yet (the next is made within a day)."),
    "not_chained": ("Ei vielä ketjussa.", "Inte ännu i kedjan.", "Not chained yet."),
    "verification": ("Tarkistus", "Kontroll", "Verification"),
    "whole": ("Koko kirjanpito tarkistettiin: ketjut ovat ehjät.",
              "Hela bokföringen kontrollerades: kedjorna är hela.",
              "The whole ledger was checked: the chains are whole."),
    "broken": ("Kirjanpito EI ole ehjä:", "Bokföringen är INTE hel:", "The ledger is NOT whole:"),
    "checked": ("Tarkistettu", "Kontrollerade", "Checked"),
    "entries": ("merkintää", "poster", "entries"),
    "checkpoints": ("tarkistuspistettä", "kontrollpunkter", "checkpoints"),
    "person_self": ("henkilö itse", "personen själv", "the person"),
    "staff": ("henkilökunta", "personalen", "staff"),
    "system": ("järjestelmä", "systemet", "the system"),
    "provider": ("postipalvelu", "e-posttjänsten", "the mail provider"),
    "api_key": ("API-avain", "API-nyckel", "API key"),
    # What happened (event kinds).
    "kind.requested": ("pyysi uutiskirjettä (odottaa vahvistusta)",
                       "bad om nyhetsbrev (väntar på bekräftelse)",
                       "asked for the newsletter (awaiting confirmation)"),
    "kind.confirmed": ("vahvisti sähköpostin linkillä", "bekräftade med länken i e-posten",
                       "confirmed with the link in the email"),
    "kind.granted": ("antoi suostumuksen", "gav samtycke", "gave consent"),
    "kind.withdrawn": ("perui suostumuksen", "återkallade samtycket", "withdrew consent"),
    "kind.complained": ("merkitsi viestin roskapostiksi", "markerade meddelandet som skräppost",
                        "reported the message as spam"),
    "kind.bounced": ("osoitteeseen ei voi toimittaa postia", "adressen tar inte emot e-post",
                     "the address cannot receive mail"),
    "kind.resubscribed": ("perui perumisensa", "ångrade återkallandet", "undid the withdrawal"),
    # How (methods).
    "method.web_form": ("verkkolomake", "webbformulär", "web form"),
    "method.form_webhook": ("verkkosivun lomake", "webbplatsens formulär", "the website's form"),
    "method.verbal_in_person": ("suullisesti vastaanotolla", "muntligt på mottagningen",
                                "verbally in person"),
    "method.verbal_phone": ("suullisesti puhelimessa", "muntligt per telefon",
                            "verbally by phone"),
    "method.import": ("tuotu aiemmasta rekisteristä", "importerat från tidigare register",
                      "imported from an earlier register"),
    "method.unsubscribe_page": ("peruutussivu", "avregistreringssidan", "the unsubscribe page"),
    "method.one_click": ("yhden napsautuksen peruutus", "avregistrering med ett klick",
                         "one-click unsubscribe"),
    "method.staff_on_request": ("henkilökunta pyynnöstä", "personalen på begäran",
                                "staff, on request"),
    "method.provider_bounce": ("postipalvelun ilmoitus", "e-posttjänstens meddelande",
                               "the mail provider's report"),
    "method.provider_complaint": ("postipalvelun ilmoitus", "e-posttjänstens meddelande",
                                  "the mail provider's report"),
    "method.provider_unsubscribe": ("postipalvelun peruutuslinkki",
                                    "e-posttjänstens avregistreringslänk",
                                    "the mail provider's unsubscribe link"),
    "method.confirmation_link": ("vahvistuslinkki", "bekräftelselänk", "confirmation link"),
    "method.undo_link": ("perumisen peruutuslinkki", "länk för att ångra", "undo link"),
    "method.receipt_dispute": ("\"en antanut lupaa\" -linkki", "länken \"jag gav inget samtycke\"",
                               "the \"I never agreed\" link"),
    "method.api": ("toinen järjestelmä (API)", "ett annat system (API)", "another system (API)"),
    "channel.email": ("sähköposti", "e-post", "email"),
    "channel.sms": ("tekstiviesti", "sms", "text message"),
    "state.subscribed": ("rekisterissä", "i registret", "on the register"),
    "state.pending": ("odottaa vahvistusta", "väntar på bekräftelse", "awaiting confirmation"),
    "state.unsubscribed": ("ei rekisterissä", "inte i registret", "not on the register"),
}


def words(language: str, key: str) -> str:
    """Return the pack's word for key in the language (the code itself when there is none)."""
    found = WORDS.get(key)
    if found is None:
        return key.partition(".")[2] or key
    return found[LANGUAGES.index(language) if language in LANGUAGES else 0]


def _environment() -> Environment:
    return Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(),
                       trim_blocks=True, lstrip_blocks=True)


def render_html(pack: ProofPack, language: str) -> str:
    """Return the pack as one self-contained HTML page in the language."""
    lang = language if language in LANGUAGES else "fi"

    def w(key: str) -> str:
        return words(lang, key)

    def when(value: Any) -> str:
        return value.strftime("%d.%m.%Y %H.%M.%S") if value is not None else "–"

    def who(event: Any) -> str:
        kind = {"person": "person_self", "staff": "staff", "system": "system",
                "provider": "provider", "api_key": "api_key"}.get(event.actor_type, "system")
        name = event.actor_id.partition(":")[2] or event.actor_id if event.actor_id else ""
        return f"{w(kind)} ({name})" if name and kind != "person_self" else w(kind)

    return _environment().get_template("pack.html").render(
        pack=pack, lang=lang, w=w, when=when, who=who)


def render_pdf(html: str) -> bytes:
    """Return the HTML page as a PDF (WeasyPrint; imported only when a PDF is asked for)."""
    from weasyprint import HTML

    pdf: bytes = HTML(string=html).write_pdf()
    return pdf
