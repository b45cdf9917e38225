"""Words of the staff pages, in Finnish (the default) and English."""

from __future__ import annotations

from typing import Any

STAFF_LANGUAGES = ("fi", "en")

WORDS: dict[str, tuple[str, str]] = {
    # key: (Finnish, English)
    "app": ("Markkinointirekisteri", "Marketing register"),
    "nav.search": ("Hae henkilöä", "Find a person"),
    "nav.verbal": ("Kirjaa suullinen lupa", "Record verbal consent"),
    "nav.account": ("Oma tili", "My account"),
    "nav.accounts": ("Käyttäjät", "Accounts"),
    "nav.notices": ("Lupatekstit", "Consent wording"),
    "nav.audit": ("Lokitiedot", "Audit log"),
    "nav.logout": ("Kirjaudu ulos", "Log out"),
    "lang.other": ("In English", "Suomeksi"),
    "login.title": ("Kirjaudu sisään", "Log in"),
    "login.name": ("Käyttäjätunnus", "User name"),
    "login.password": ("Salasana", "Password"),
    "login.submit": ("Kirjaudu", "Log in"),
    "login.failed": (
        "Kirjautuminen epäonnistui. Tarkista tunnus ja salasana. Kymmenen peräkkäisen "
        "virheen jälkeen tili lukitaan 15 minuutiksi.",
        "Login failed. Check the name and password. After ten failed attempts in a row the "
        "account is locked for 15 minutes.",
    ),
    "login.expired": ("Istunto vanheni. Kirjaudu uudelleen.",
                      "Your session expired. Log in again."),
    "code.title": ("Kaksivaiheinen tunnistus", "Two-step verification"),
    "code.label": (
        "Todennussovelluksen kuusinumeroinen koodi tai varakoodi",
        "The six-digit code from your authenticator app, or a recovery code",
    ),
    "code.submit": ("Vahvista", "Verify"),
    "code.failed": ("Koodi ei kelpaa.", "The code is not valid."),
    "enrol.title": ("Ota kaksivaiheinen tunnistus käyttöön", "Set up two-step verification"),
    "enrol.required": (
        "Tililläsi on otettava kaksivaiheinen tunnistus käyttöön ennen kuin jatkat.",
        "Your account must use two-step verification before you continue.",
    ),
    "enrol.steps": (
        "Skannaa QR-koodi todennussovelluksella (esim. Google Authenticator, Microsoft "
        "Authenticator) tai kirjoita avain käsin. Kirjoita sitten sovelluksen näyttämä koodi.",
        "Scan the QR code with an authenticator app (such as Google Authenticator or Microsoft "
        "Authenticator) or type the key by hand. Then type the code the app shows.",
    ),
    "enrol.key": ("Avain", "Key"),
    "enrol.code": ("Koodi", "Code"),
    "enrol.submit": ("Ota käyttöön", "Turn on"),
    "enrol.done": ("Kaksivaiheinen tunnistus on käytössä", "Two-step verification is on"),
    "enrol.codes": (
        "Tallenna nämä varakoodit turvalliseen paikkaan. Kutakin voi käyttää kerran, jos "
        "puhelin katoaa. Niitä ei näytetä uudelleen.",
        "Keep these recovery codes somewhere safe. Each works once if your phone is lost. "
        "They are not shown again.",
    ),
    "enrol.continue": ("Jatka", "Continue"),
    "enrol.enabled": ("Kaksivaiheinen tunnistus on jo käytössä.", "Two-step verification is on."),
    "search.title": ("Hae henkilöä", "Find a person"),
    "search.label": ("Sähköposti, nimi tai puhelinnumero", "Email, name or phone number"),
    "search.submit": ("Hae", "Search"),
    "search.none": ("Ei osumia.", "Nothing found."),
    "search.flagged": ("Tarkistettavat", "Needs checking"),
    "col.name": ("Nimi", "Name"),
    "col.email": ("Sähköposti", "Email"),
    "col.phone": ("Puhelin", "Phone"),
    "col.state": ("Tila", "State"),
    "col.when": ("Aika", "When"),
    "col.what": ("Mitä", "What"),
    "col.who": ("Kuka", "Who"),
    "col.contact": ("Henkilö", "Contact"),
    "col.ip": ("IP", "IP"),
    "col.detail": ("Lisätiedot", "Detail"),
    "col.channel": ("Kanava", "Channel"),
    "col.method": ("Tapa", "How"),
    "col.notice": ("Lupateksti", "Wording"),
    "col.evidence": ("Todisteet", "Evidence"),
    "state.subscribed": ("tilattu", "subscribed"),
    "state.pending": ("odottaa vahvistusta", "awaiting confirmation"),
    "state.unsubscribed": ("peruttu", "unsubscribed"),
    "channel.email": ("sähköposti", "email"),
    "channel.sms": ("tekstiviesti", "text message"),
    "verbal.title": ("Kirjaa suullinen lupa", "Record verbal consent"),
    "verbal.read": (
        "Lue tämä teksti ääneen henkilölle ennen kuin kirjaat luvan:",
        "Read this text out to the person before recording the consent:",
    ),
    "verbal.name": ("Nimi", "Name"),
    "verbal.email": ("Sähköposti", "Email"),
    "verbal.phone": ("Puhelin", "Phone"),
    "verbal.language": ("Henkilön kieli", "The person's language"),
    "verbal.channels": ("Kanavat, joihin lupa annettiin", "Channels the consent covers"),
    "verbal.method": ("Miten lupa annettiin", "How it was given"),
    "verbal.in_person": ("Paikan päällä", "In person"),
    "verbal.phone_call": ("Puhelimessa", "By phone"),
    "verbal.notice": ("Luettu lupateksti (versio)", "Wording read out (version)"),
    "verbal.note": ("Muistiinpano (vapaaehtoinen, ei terveystietoja)",
                    "Note (optional, no health information)"),
    "verbal.submit": ("Kirjaa lupa", "Record consent"),
    "verbal.done": ("Lupa kirjattu.", "Consent recorded."),
    "verbal.receipt": (
        "Henkilölle lähetetään vahvistus sähköpostiin.",
        "A receipt is emailed to the person.",
    ),
    "contact.title": ("Henkilön tiedot", "Contact"),
    "contact.flagged": (
        "Henkilö ilmoitti, ettei ole antanut lupaa. Tarkista kirjaus.",
        "The person said they never agreed. Check the record.",
    ),
    "contact.unflag": ("Merkitse tarkistetuksi", "Mark as checked"),
    "contact.details": ("Tiedot", "Details"),
    "contact.language": ("Kieli", "Language"),
    "contact.subscriptions": ("Luvat nyt", "Consent now"),
    "contact.history": ("Lupahistoria", "Consent history"),
    "contact.corrections": ("Korjaukset", "Corrections"),
    "contact.audit": ("Kuka on katsonut tai muuttanut", "Who viewed or changed this"),
    "contact.correct": ("Korjaa tiedot", "Correct details"),
    "contact.save": ("Tallenna korjaukset", "Save corrections"),
    "contact.corrected": ("Tiedot korjattu.", "Details corrected."),
    "contact.withdraw": ("Peru lupa henkilön pyynnöstä", "Withdraw on the person's request"),
    "contact.withdraw_note": ("Syy tai muistiinpano (vapaaehtoinen)", "Reason or note (optional)"),
    "contact.withdraw_submit": ("Peru valitut", "Withdraw the chosen"),
    "contact.withdrawn": ("Lupa peruttu.", "Consent withdrawn."),
    "contact.export": ("Vie kaikki tiedot", "Export everything held"),
    "contact.export_json": ("JSON", "JSON"),
    "contact.export_csv": ("CSV", "CSV"),
    "contact.export_jsonld": ("Suostumustiedot (JSON-LD, ISO/IEC TS 27560)",
                              "Consent records (JSON-LD, ISO/IEC TS 27560)"),
    "contact.proof_html": ("Todiste suostumuksesta (näytä)", "Proof of consent (view)"),
    "contact.proof_pdf": ("Todiste suostumuksesta (PDF)", "Proof of consent (PDF)"),
    "contact.erase": ("Poista henkilön tiedot", "Erase this person"),
    "erase.title": ("Poista henkilön tiedot pysyvästi", "Erase this person for good"),
    "erase.explain": (
        "Nimi, sähköposti, puhelinnumero, todisteet, jonossa olevat ja lähetetyt viestit sekä "
        "rivi Google Sheetissä poistetaan. Lupahistoria jää ilman henkilötietoja. Osoitetta ei "
        "voi tuoda takaisin ilman uutta lupaa. Tätä ei voi perua.",
        "Name, email, phone, evidence, queued and sent messages and the Sheet row are removed. "
        "The consent history stays, without personal data. The address cannot be imported "
        "again without fresh consent. This cannot be undone.",
    ),
    "erase.confirm": ("Ymmärrän, poista tiedot", "I understand, erase"),
    "erase.submit": ("Poista pysyvästi", "Erase for good"),
    "erase.cancel": ("Peruuta", "Cancel"),
    "erase.done": ("Henkilön tiedot on poistettu.", "The person has been erased."),
    "erase.need_confirm": ("Vahvista poisto rastittamalla ruutu.",
                           "Tick the box to confirm the erasure."),
    "accounts.title": ("Käyttäjät", "Accounts"),
    "accounts.new": ("Uusi käyttäjä", "New account"),
    "accounts.admin": ("Pääkäyttäjä", "Administrator"),
    "accounts.totp": ("Kaksivaiheinen", "Two-step"),
    "accounts.create": ("Luo käyttäjä", "Create account"),
    "accounts.created": ("Käyttäjä luotu.", "Account created."),
    "accounts.disable": ("Poista käytöstä", "Disable"),
    "accounts.enable": ("Ota käyttöön", "Enable"),
    "accounts.reset_totp": ("Nollaa kaksivaiheinen", "Reset two-step"),
    "accounts.disabled": ("pois käytöstä", "disabled"),
    "yes": ("kyllä", "yes"),
    "no": ("ei", "no"),
    "notices.title": ("Lupatekstit", "Consent wording"),
    "notices.explain": (
        "Käytettyä versiota ei koskaan muuteta. Uusi teksti julkaistaan uutena versiona, ja "
        "jokainen lupa viittaa versioon, jolla se annettiin.",
        "A version in use is never edited. New wording is published as a new version, and every "
        "consent points to the version it was given under.",
    ),
    "notices.publish": ("Julkaise uusi versio", "Publish a new version"),
    "notices.published": ("Uusi versio julkaistu.", "New version published."),
    "notices.version": ("Versio", "Version"),
    "notices.current": ("nykyinen", "current"),
    "audit.title": ("Lokitiedot", "Audit log"),
    "audit.filter": ("Suodata", "Filter"),
    "audit.action": ("Toiminto", "Action"),
    "audit.actor": ("Tekijä", "Actor"),
    "audit.contact": ("Henkilön tunniste", "Contact id"),
    "audit.older": ("Vanhemmat", "Older"),
    "nav.apikeys": ("API-avaimet", "API keys"),
    "nav.settings": ("Asetukset", "Settings"),
    "apikeys.title": ("API-avaimet", "API keys"),
    "apikeys.explain": (
        "Lukuavain (reader) näkee rekisterin; henkilökunnan avain (staff) voi myös kirjata "
        "lupia ja perumisia. Avain näytetään vain kerran.",
        "A reader key sees the register; a staff key may also record consents and "
        "withdrawals. A key is shown only once.",
    ),
    "apikeys.new": ("Uusi avain", "New key"),
    "apikeys.name": ("Järjestelmän nimi", "Name of the system"),
    "apikeys.role": ("Rooli", "Role"),
    "apikeys.create": ("Luo avain", "Create key"),
    "apikeys.shown_once": (
        "Kopioi avain nyt toiseen järjestelmään: sitä ei näytetä uudelleen.",
        "Copy the key into the other system now: it is not shown again.",
    ),
    "apikeys.revoke": ("Mitätöi", "Revoke"),
    "apikeys.revoked": ("mitätöity", "revoked"),
    "apikeys.last_used": ("Viimeksi käytetty", "Last used"),
    "nav.sources": ("Lomakelähteet", "Form sources"),
    "nav.webhooks": ("Webhookit", "Webhooks"),
    "sources.title": ("Lomakelähteet ja sähköpostipalvelut", "Form sources and mail providers"),
    "sources.explain": (
        "WordPressin lomakelisäosa tai sähköpostipalvelu lähettää tietoja omaan osoitteeseensa. "
        "Salaisuus näytetään vain kerran; tallennamme siitä vain tiivisteen. Ohjeet kullekin "
        "lisäosalle ovat README-tiedostossa.",
        "A WordPress form plugin or a mail provider posts to its own address. The secret is "
        "shown only once; only its hash is kept. The README tells, plugin by plugin, where to "
        "paste what.",
    ),
    "sources.shown_once": (
        "Liitä nämä lisäosan tai palvelun asetuksiin nyt: salaisuutta ei näytetä uudelleen.",
        "Paste these into the plugin or provider now: the secret is not shown again.",
    ),
    "sources.url": ("Osoite", "URL"),
    "sources.secret": ("Salaisuus", "Secret"),
    "sources.header": ("Otsakkeena", "As a header"),
    "sources.url_secret": ("Tai osoitteessa (lisäosat, jotka eivät osaa otsakkeita)",
                           "Or in the URL (for plugins that cannot send headers)"),
    "sources.basic_url": ("Tai Basic-tunnistuksella", "Or with Basic authentication"),
    "sources.signed": (
        "Tämä palvelu todennetaan omalla allekirjoituksellaan; salaisuutta ei tarvita.",
        "This provider is checked by its own signature; it needs no secret.",
    ),
    "sources.name": ("Nimi (osoitteen osa; palvelulla sama kuin laji)",
                     "Name (part of the URL; a provider is named after its kind)"),
    "sources.kind": ("Laji", "Kind"),
    "sources.forms": ("Lomakelisäosat", "Form plugins"),
    "sources.providers": ("Sähköpostipalvelut", "Mail providers"),
    "sources.mapping": ("Kenttien vastaavuus, yksi riville: oma=lisäosan (esim. "
                        "consent=uutiskirje, name=1.3+1.6)",
                        "Field mapping, one per line: ours=theirs (e.g. consent=newsletter, "
                        "name=1.3+1.6)"),
    "sources.notice": ("Lomakkeen näyttämä lupateksti", "Consent wording the form shows"),
    "sources.current": ("nykyinen versio", "the current version"),
    "sources.opt_in": ("Vahvistus sähköpostilla", "Confirmation by email"),
    "sources.opt_in.default": ("palvelun oletus", "the service's default"),
    "sources.opt_in.double": ("kyllä (kaksivaiheinen)", "yes (double opt-in)"),
    "sources.opt_in.single": ("ei (yksivaiheinen)", "no (single opt-in)"),
    "sources.channels": ("Kanavat, kun lomakkeella ei ole kanavakenttää",
                         "Channels when the form has no channel field"),
    "sources.signing_secret": (
        "Allekirjoitusavain (WPForms: webhookin Secret; Mailgun: signing key; SendGrid: "
        "julkinen avain)",
        "Signing key (WPForms: the webhook's Secret; Mailgun: signing key; SendGrid: public "
        "key)",
    ),
    "sources.topic_arns": ("Amazon SES: SNS-aiheen ARN", "Amazon SES: the SNS topic ARN"),
    "sources.add": ("Lisää lähde", "Add source"),
    "sources.new": ("Uusi lähde", "New source"),
    "sources.rotate": ("Uusi salaisuus", "New secret"),
    "sources.remove": ("Poista", "Remove"),
    "sources.removed": ("Lähde poistettu; sen osoite ei enää toimi.",
                        "Source removed; its URL no longer works."),
    "sources.none": ("Ei lähteitä.", "No sources."),
    "webhooks.title": ("Webhookit muihin järjestelmiin", "Webhooks to other systems"),
    "webhooks.explain": (
        "Jokainen lupamuutos lähetetään valituille osoitteille Standard Webhooks "
        "-allekirjoitettuna ja yritetään uudelleen noin kolmen päivän ajan. "
        "Allekirjoitusavain (whsec_) näytetään vain kerran.",
        "Every consent change is POSTed to the chosen endpoints, signed per Standard Webhooks, "
        "and retried for about three days. The signing secret (whsec_) is shown only once.",
    ),
    "webhooks.secret_once": (
        "Osoitteen {id} allekirjoitusavain. Kopioi se vastaanottavaan järjestelmään nyt: sitä "
        "ei näytetä uudelleen.",
        "The signing secret of endpoint {id}. Copy it into the receiving system now: it is not "
        "shown again.",
    ),
    "webhooks.url": ("Osoite (https://…)", "URL (https://…)"),
    "webhooks.events": ("Tapahtumat", "Events"),
    "webhooks.state": ("Tila", "State"),
    "webhooks.active": ("käytössä", "active"),
    "webhooks.disabled": ("pois käytöstä", "disabled"),
    "webhooks.allow_private": (
        "Salli sisäverkon tai paikallinen osoite (oma sisäinen järjestelmä)",
        "Allow a private or local address (an internal system)",
    ),
    "webhooks.personal": (
        "Lähetä myös sähköposti, nimi ja puhelin (vain järjestelmälle, jolla on siihen oikeus)",
        "Also send email, name and phone (only to a system allowed them)",
    ),
    "webhooks.private_flag": ("sisäverkko sallittu", "private allowed"),
    "webhooks.personal_flag": ("henkilötiedot", "personal data"),
    "webhooks.add": ("Lisää osoite", "Add endpoint"),
    "webhooks.new": ("Uusi osoite", "New endpoint"),
    "webhooks.deliveries": ("Lähetykset", "Deliveries"),
    "webhooks.rotate": ("Uusi allekirjoitusavain", "New signing secret"),
    "webhooks.drop_old": ("vanha lakkaa heti", "the old one stops at once"),
    "webhooks.disable": ("Poista käytöstä", "Disable"),
    "webhooks.enable": ("Ota käyttöön", "Enable"),
    "webhooks.delete": ("Poista historioineen", "Delete with its history"),
    "webhooks.deleted": ("Osoite ja sen lähetyshistoria poistettu.",
                         "Endpoint and its delivery history deleted."),
    "webhooks.none": ("Ei osoitteita.", "No endpoints."),
    "deliveries.title": ("Lähetykset osoitteeseen", "Deliveries to"),
    "deliveries.event": ("Tapahtuma", "Event"),
    "deliveries.status": ("Tila", "Status"),
    "deliveries.attempts": ("Yritykset", "Attempts"),
    "deliveries.redeliver": ("Lähetä uudelleen", "Redeliver"),
    "deliveries.queued": ("Lähetys on jonossa uudelleen.", "The delivery is queued again."),
    "deliveries.none": ("Ei lähetyksiä.", "No deliveries."),
    "deliveries.back": ("Takaisin webhookeihin", "Back to webhooks"),
    "nav.parked": ("Lähettämättömät viestit", "Mail not sent"),
    "parked.title": ("Viestit, joita ei voi lähettää", "Mail that cannot be sent"),
    "parked.intro": (
        "Näitä viestejä ei yritetä uudelleen, koska ne eivät voi lähteä sellaisenaan. Syy kertoo, "
        "mitä pitää korjata; korjauksen jälkeen paina Lähetä uudelleen.",
        "These messages are not tried again: they cannot go as they stand. The reason says what "
        "to put right; once it is, press Send again."),
    "parked.reason": ("Syy", "Reason"),
    "parked.person": ("Henkilö", "Person"),
    "parked.open_person": ("Avaa henkilö", "Open the person"),
    "parked.send_again": ("Lähetä uudelleen", "Send again"),
    "parked.queued": ("Viesti on jonossa uudelleen.", "The message is queued again."),
    "parked.gone": ("Viestiä ei enää ole odottamassa.", "That message is no longer waiting."),
    "parked.none": ("Kaikki viestit on lähetetty tai jonossa.", "Every message is sent or queued."),
    "parked.banner": ("Lähettämättömiä viestejä: {count}.",
                      "Messages that cannot be sent: {count}."),
    "parked.see": ("Katso syyt", "See why"),
    "parked.ask_admin": ("Pyydä ylläpitäjää katsomaan ne.",
                         "Ask an administrator to look at them."),
    "settings.title": ("Asetukset", "Settings"),
    "settings.explain": (
        "Asetukset annetaan ympäristömuuttujina (tai .env-tiedostossa) ja ne tulevat voimaan "
        "palvelun uudelleenkäynnistyksessä. Salaisuuksia ei näytetä.",
        "Settings are environment variables (or a .env file) and take effect when the service "
        "restarts. Secrets are never shown.",
    ),
    "account.password": ("Vaihda salasana", "Change password"),
    "account.current": ("Nykyinen salasana", "Current password"),
    "account.new": ("Uusi salasana (vähintään 12 merkkiä)",
                    "New password (at least 12 characters)"),
    "account.again": ("Uusi salasana uudelleen", "New password again"),
    "account.mismatch": ("Salasanat eivät täsmää.", "The passwords differ."),
    "account.wrong": ("Nykyinen salasana on väärin.", "The current password is wrong."),
    "account.changed": ("Salasana vaihdettu.", "Password changed."),
    "forbidden": ("Vain pääkäyttäjille.", "Administrators only."),
    "not_found": ("Henkilöä ei löydy (tai hänen tietonsa on poistettu).",
                  "No such person (or they have been erased)."),
    "csrf": (
        "Lomake vanheni tai sen tarkiste puuttui. Lataa sivu uudelleen ja yritä uudestaan.",
        "The form expired or its security token was missing. Reload the page and try again.",
    ),
    "problems": ("Tarkista tiedot", "Please check"),
    # The fields a problem is about, as the lists of problems name them.
    "field.email": ("Sähköposti", "Email"),
    "field.name": ("Nimi", "Name"),
    "field.phone": ("Puhelin", "Phone"),
    "field.language": ("Kieli", "Language"),
    "field.channels": ("Kanavat", "Channels"),
    "field.method": ("Miten lupa annettiin", "How it was given"),
    "field.notice": ("Lupateksti", "Wording"),
    "field.note": ("Muistiinpano", "Note"),
    "field.role": ("Rooli", "Role"),
    "field.password": ("Salasana", "Password"),
    "field.code": ("Koodi", "Code"),
    "field.fi": ("Suomenkielinen teksti", "Finnish text"),
    "field.sv": ("Ruotsinkielinen teksti", "Swedish text"),
    "field.en": ("Englanninkielinen teksti", "English text"),
}


def field_label(language: str, field: str) -> str:
    """Name a form field on a staff page; a field without a label keeps its own name."""
    key = f"field.{field}"
    return words(language, key) if key in WORDS else field


def words(language: str, key: str, **values: Any) -> str:
    """Return a staff page text in fi or en (Finnish for anything else)."""
    pair = WORDS[key]
    text = pair[1] if language == "en" else pair[0]
    return text.format(**values) if values else text
