"""Words shown to people, in Finnish, Swedish and English (Finnish is the default)."""

from __future__ import annotations

from typing import Any

CATALOGUE: dict[str, dict[str, str]] = {
    # The hosted form and its answers.
    "form.title": {
        "fi": "Tilaa uutiskirje",
        "sv": "Beställ nyhetsbrevet",
        "en": "Subscribe to the newsletter",
    },
    "form.intro": {
        "fi": "{org} lähettää uutiskirjeen ja ajankohtaisia tarjouksia vain niille, jotka ovat sitä pyytäneet.",
        "sv": "{org} skickar nyhetsbrevet och aktuella erbjudanden bara till dem som har bett om det.",
        "en": "{org} sends its newsletter and current offers only to people who asked for them.",
    },
    "form.email": {"fi": "Sähköposti", "sv": "E-post", "en": "Email"},
    "form.name": {"fi": "Nimi (vapaaehtoinen)", "sv": "Namn (frivilligt)", "en": "Name (optional)"},
    "form.phone": {
        "fi": "Puhelin (vapaaehtoinen, tekstiviestejä varten)",
        "sv": "Telefon (frivilligt, för sms)",
        "en": "Phone (optional, for text messages)",
    },
    "form.channels": {"fi": "Miten saamme olla yhteydessä", "sv": "Hur vi får kontakta dig", "en": "How we may contact you"},
    "channel.email": {"fi": "Sähköposti", "sv": "E-post", "en": "Email"},
    "channel.sms": {"fi": "Tekstiviesti", "sv": "Sms", "en": "Text message"},
    "form.consent": {
        "fi": "Hyväksyn yllä olevan tekstin mukaisen markkinoinnin.",
        "sv": "Jag samtycker till marknadsföring enligt texten ovan.",
        "en": "I agree to marketing as described above.",
    },
    "form.privacy": {"fi": "Tietosuojaseloste", "sv": "Dataskyddsbeskrivning", "en": "Privacy notice"},
    "form.submit": {"fi": "Tilaa", "sv": "Beställ", "en": "Subscribe"},
    "form.honeypot": {"fi": "Jätä tyhjäksi", "sv": "Lämna tomt", "en": "Leave empty"},
    "form.language": {"fi": "Kieli", "sv": "Språk", "en": "Language"},
    "thanks.title": {"fi": "Kiitos!", "sv": "Tack!", "en": "Thank you!"},
    "thanks.pending": {
        "fi": "Lähetimme vahvistusviestin antamaasi osoitteeseen. Tilaus on voimassa, kun olet vahvistanut sen viestin linkistä. Jos viestiä ei näy, katso roskapostikansio.",
        "sv": "Vi skickade ett bekräftelsemeddelande till adressen du angav. Beställningen gäller när du har bekräftat den via länken i meddelandet. Titta i skräpposten om du inte ser det.",
        "en": "We sent a confirmation message to the address you gave. Your subscription starts once you confirm it through the link in that message. If you can't see it, look in your spam folder.",
    },
    "thanks.subscribed": {
        "fi": "Olet nyt uutiskirjeen tilaaja. Voit perua tilauksen milloin tahansa jokaisen viestin linkistä.",
        "sv": "Du prenumererar nu på nyhetsbrevet. Du kan avsluta när som helst via länken i varje meddelande.",
        "en": "You are now subscribed. You can unsubscribe at any time through the link in every message.",
    },
    "error.title": {"fi": "Tarkista tiedot", "sv": "Kontrollera uppgifterna", "en": "Please check the form"},
    "error.back": {"fi": "Palaa takaisin ja korjaa merkityt kohdat.", "sv": "Gå tillbaka och rätta de markerade fälten.", "en": "Go back and correct the fields named above."},
    "error.rate_limited": {
        "fi": "Liian monta yritystä lyhyessä ajassa. Odota hetki ja yritä uudelleen.",
        "sv": "För många försök på kort tid. Vänta en stund och försök igen.",
        "en": "Too many attempts in a short time. Wait a moment and try again.",
    },
    "error.fix": {"fi": "Osa tiedoista puuttuu tai on virheellisiä.", "sv": "Några uppgifter saknas eller är felaktiga.", "en": "Some of the details are missing or wrong."},
    "field.email": {"fi": "Sähköposti", "sv": "E-post", "en": "Email"},
    "field.phone": {"fi": "Puhelin", "sv": "Telefon", "en": "Phone"},
    "field.name": {"fi": "Nimi", "sv": "Namn", "en": "Name"},
    "field.consent": {"fi": "Suostumus", "sv": "Samtycke", "en": "Consent"},
    "field.language": {"fi": "Kieli", "sv": "Språk", "en": "Language"},
    "problem.required": {"fi": "puuttuu: täytä se", "sv": "saknas: fyll i det", "en": "is missing: please fill it in"},
    "problem.too_long": {"fi": "on liian pitkä (enintään {limit} merkkiä)", "sv": "är för långt (högst {limit} tecken)", "en": "is too long (at most {limit} characters)"},
    "problem.email_invalid": {"fi": "ei ole kelvollinen sähköpostiosoite: tarkista se", "sv": "är inte en giltig e-postadress: kontrollera den", "en": "is not a valid email address: please check it"},
    "problem.phone_format": {"fi": "ei ole puhelinnumero: kirjoita se muodossa 040 123 4567 tai +358...", "sv": "är inte ett telefonnummer: skriv det som 040 123 4567 eller +358...", "en": "is not a phone number: write it as 040 123 4567 or +358..."},
    "problem.phone_invalid": {"fi": "ei ole kelvollinen puhelinnumero: tarkista numerot", "sv": "är inte ett giltigt telefonnummer: kontrollera siffrorna", "en": "is not a valid phone number: please check the digits"},
    "problem.email_for_email": {"fi": "tarvitaan sähköpostia varten", "sv": "behövs för e-post", "en": "is needed for email"},
    "problem.phone_for_sms": {"fi": "tarvitaan tekstiviestejä varten", "sv": "behövs för textmeddelanden", "en": "is needed for text messages"},
    "problem.consent_unticked": {"fi": "rastita ruutu, jos haluat tilata", "sv": "kryssa i rutan om du vill prenumerera", "en": "tick the box to subscribe"},
    "problem.language": {"fi": "pitää olla fi, sv tai en", "sv": "ska vara fi, sv eller en", "en": "must be fi, sv or en"},
    "error.generic_title": {"fi": "Jotain meni pieleen", "sv": "Något gick fel", "en": "Something went wrong"},
    # Confirmation of a double opt-in.
    "confirm.title": {"fi": "Vahvista tilaus", "sv": "Bekräfta beställningen", "en": "Confirm your subscription"},
    "confirm.body": {
        "fi": "Vahvista, että haluat tilata {org} -uutiskirjeen osoitteeseen {address}.",
        "sv": "Bekräfta att du vill få nyhetsbrevet från {org} till adressen {address}.",
        "en": "Confirm that you want to receive the newsletter of {org} at {address}.",
    },
    "confirm.button": {"fi": "Vahvistan tilauksen", "sv": "Jag bekräftar", "en": "Yes, subscribe me"},
    "confirm.done_title": {"fi": "Tilaus vahvistettu", "sv": "Beställningen är bekräftad", "en": "Subscription confirmed"},
    "confirm.done": {
        "fi": "Kiitos! Olet nyt {org} -uutiskirjeen tilaaja. Voit perua tilauksen milloin tahansa jokaisen viestin linkistä.",
        "sv": "Tack! Du prenumererar nu på nyhetsbrevet från {org}. Du kan avsluta när som helst via länken i varje meddelande.",
        "en": "Thank you! You now receive the newsletter of {org}. You can unsubscribe at any time through the link in every message.",
    },
    "link.invalid_title": {"fi": "Linkki ei kelpaa", "sv": "Länken är ogiltig", "en": "This link does not work"},
    "link.invalid": {
        "fi": "Linkki on vanhentunut, vaillinainen tai jo käytetty. Mitään ei muutettu. Voit tilata uutiskirjeen uudelleen lomakkeella.",
        "sv": "Länken har gått ut, är ofullständig eller redan använd. Inget ändrades. Du kan beställa nyhetsbrevet på nytt via formuläret.",
        "en": "The link has expired, is incomplete or was already used. Nothing was changed. You can subscribe again with the form.",
    },
    "link.expired": {
        "fi": "Vahvistuslinkki on vanhentunut. Mitään ei muutettu. Tilaa uutiskirje uudelleen, niin saat uuden linkin.",
        "sv": "Bekräftelselänken har gått ut. Inget ändrades. Beställ nyhetsbrevet på nytt så får du en ny länk.",
        "en": "The confirmation link has expired. Nothing was changed. Subscribe again to get a fresh link.",
    },
    "link.to_form": {"fi": "Tilauslomakkeeseen", "sv": "Till formuläret", "en": "Go to the form"},
    # Emails.
    "mail.confirm.subject": {
        "fi": "Vahvista uutiskirjeen tilaus – {org}",
        "sv": "Bekräfta beställningen av nyhetsbrevet – {org}",
        "en": "Confirm your newsletter subscription – {org}",
    },
    "mail.confirm.body": {
        "fi": "Hei{name},\n\njoku (toivottavasti sinä) tilasi {org} -uutiskirjeen osoitteeseen {address}.\nVahvista tilaus avaamalla linkki ja painamalla sivun painiketta:\n\n{link}\n\nLinkki on voimassa 7 päivää. Jos et pyytänyt tätä, voit jättää viestin huomiotta: sinua ei lisätä listalle.",
        "sv": "Hej{name},\n\nnågon (förhoppningsvis du) bad om nyhetsbrevet från {org} till adressen {address}.\nBekräfta genom att öppna länken och trycka på knappen på sidan:\n\n{link}\n\nLänken gäller i 7 dagar. Om du inte bad om detta kan du ignorera meddelandet: du läggs inte till på listan.",
        "en": "Hello{name},\n\nsomeone (hopefully you) asked for the newsletter of {org} at {address}.\nConfirm by opening the link and pressing the button on the page:\n\n{link}\n\nThe link is valid for 7 days. If you did not ask for this, ignore this message: you will not be added to the list.",
    },
    "mail.confirm.button": {"fi": "Vahvista tilaus", "sv": "Bekräfta", "en": "Confirm subscription"},
    "mail.welcome.subject": {
        "fi": "Tervetuloa uutiskirjeen tilaajaksi – {org}",
        "sv": "Välkommen som prenumerant – {org}",
        "en": "Welcome to the newsletter – {org}",
    },
    "mail.welcome.body": {
        "fi": "Hei{name},\n\nkiitos! Olet nyt {org} -uutiskirjeen tilaaja osoitteella {address}.",
        "sv": "Hej{name},\n\ntack! Du prenumererar nu på nyhetsbrevet från {org} med adressen {address}.",
        "en": "Hello{name},\n\nthank you! You now receive the newsletter of {org} at {address}.",
    },
    "mail.unsubscribe_line": {
        "fi": "Et halua enää viestejä? Peru tilaus: {link}",
        "sv": "Vill du inte längre få meddelanden? Avsluta här: {link}",
        "en": "No longer want these messages? Unsubscribe: {link}",
    },
    "mail.privacy_line": {"fi": "Tietosuojaseloste: {link}", "sv": "Dataskyddsbeskrivning: {link}", "en": "Privacy notice: {link}"},
    # The receipt of a consent given out loud, and its "I never agreed to this" page.
    "mail.receipt.subject": {
        "fi": "Vahvistus markkinointiluvasta – {org}",
        "sv": "Bekräftelse på samtycke till marknadsföring – {org}",
        "en": "Your consent to marketing – {org}",
    },
    "mail.receipt.body": {
        "fi": "Hei{name},\n\nannoit {date} {org}:lle luvan lähettää sinulle markkinointia ({channels}). Kirjasimme luvan osoitteelle {address}.\n\nJos tämä ei pidä paikkaansa etkä ole antanut lupaa, paina alla olevaa linkkiä: lupa perutaan heti ja asia välitetään henkilökunnalle tarkistettavaksi.\n\n{link}",
        "sv": "Hej{name},\n\nden {date} gav du {org} samtycke till marknadsföring ({channels}). Vi registrerade samtycket för adressen {address}.\n\nOm detta inte stämmer och du inte har gett något samtycke, tryck på länken nedan: samtycket återkallas genast och personalen ombeds kontrollera saken.\n\n{link}",
        "en": "Hello{name},\n\non {date} you agreed that {org} may send you marketing ({channels}). We recorded the consent for the address {address}.\n\nIf this is wrong and you never agreed, press the link below: the consent is withdrawn at once and the staff are asked to check the record.\n\n{link}",
    },
    "mail.receipt.button": {"fi": "En ole antanut lupaa", "sv": "Jag har inte gett samtycke", "en": "I never agreed to this"},
    "dispute.title": {"fi": "En ole antanut lupaa", "sv": "Jag har inte gett samtycke", "en": "I never agreed to this"},
    "dispute.body": {
        "fi": "Kun painat alla olevaa painiketta, {org} poistaa osoitteen {address} markkinointirekisteristään ja henkilökunta tarkistaa kirjauksen.",
        "sv": "När du trycker på knappen nedan tar {org} bort adressen {address} ur sitt marknadsföringsregister och personalen kontrollerar registreringen.",
        "en": "When you press the button below, {org} removes the address {address} from its marketing list and the staff check the record.",
    },
    "dispute.button": {"fi": "En ole antanut lupaa – poista minut", "sv": "Jag har inte gett samtycke – ta bort mig", "en": "I never agreed – remove me"},
    "dispute.done_title": {"fi": "Poistettu", "sv": "Borttagen", "en": "Removed"},
    "dispute.done": {
        "fi": "Kiitos ilmoituksesta. Osoitteeseen ei lähetetä markkinointia, ja henkilökunta tarkistaa kirjauksen. Pahoittelemme vaivaa.",
        "sv": "Tack för att du meddelade oss. Ingen marknadsföring skickas till adressen, och personalen kontrollerar registreringen. Vi ber om ursäkt för besväret.",
        "en": "Thank you for telling us. No marketing will be sent to the address, and the staff will check the record. We are sorry for the trouble.",
    },
    # Unsubscribe: the link's page, its answer, undo, and "send me my link".
    "unsubscribe.title": {"fi": "Peru tilaus", "sv": "Avsluta prenumerationen", "en": "Unsubscribe"},
    "unsubscribe.body": {
        "fi": "Kun painat alla olevaa painiketta, {org} ei enää lähetä uutiskirjettä eikä markkinointia osoitteeseen {address} ({channel}).",
        "sv": "När du trycker på knappen nedan slutar {org} skicka nyhetsbrev och marknadsföring till {address} ({channel}).",
        "en": "Press the button below and {org} will stop sending its newsletter and marketing to {address} ({channel}).",
    },
    "unsubscribe.button": {"fi": "Peru tilaus", "sv": "Avsluta prenumerationen", "en": "Unsubscribe"},
    "unsubscribe.already": {
        "fi": "{address} ei ole {org} -markkinointirekisterissä ({channel}), joten sinne ei lähetetä markkinointia.",
        "sv": "{address} finns inte i marknadsföringsregistret hos {org} ({channel}), så ingen marknadsföring skickas dit.",
        "en": "{address} is not on the marketing list of {org} ({channel}), so no marketing is sent there.",
    },
    "unsubscribe.done_title": {"fi": "Tilaus on peruttu", "sv": "Prenumerationen är avslutad", "en": "You are unsubscribed"},
    "unsubscribe.done": {
        "fi": "{address} on poistettu {org} -markkinointirekisteristä ({channel}). Et saa enää markkinointia tätä kautta.",
        "sv": "{address} har tagits bort ur marknadsföringsregistret hos {org} ({channel}). Du får ingen mer marknadsföring den vägen.",
        "en": "{address} has been removed from the marketing list of {org} ({channel}). You will get no more marketing this way.",
    },
    "unsubscribe.others": {
        "fi": "Saat vielä markkinointia myös näin: {channels}.",
        "sv": "Du får fortfarande marknadsföring även så här: {channels}.",
        "en": "You still receive marketing this way too: {channels}.",
    },
    "unsubscribe.all_button": {"fi": "Peru kaikki tilaukset", "sv": "Avsluta alla prenumerationer", "en": "Unsubscribe from everything"},
    "unsubscribe.all_done": {
        "fi": "Sinut on poistettu {org} -markkinointirekisteristä kaikilta kanavilta.",
        "sv": "Du har tagits bort ur marknadsföringsregistret hos {org} för alla kanaler.",
        "en": "You have been removed from the marketing list of {org} on every channel.",
    },
    "unsubscribe.undo_intro": {
        "fi": "Painoitko vahingossa? Voit jatkaa tilaajana tunnin ajan tästä.",
        "sv": "Tryckte du av misstag? Du kan fortsätta prenumerera här under en timme.",
        "en": "Pressed it by mistake? For the next hour you can stay subscribed from here.",
    },
    "unsubscribe.undo_button": {"fi": "Muutin mieleni – pidä minut tilaajana", "sv": "Jag ångrar mig – fortsätt skicka", "en": "I changed my mind – keep me subscribed"},
    "unsubscribe.reason_title": {"fi": "Kerro halutessasi, miksi peruit", "sv": "Berätta gärna varför (frivilligt)", "en": "Tell us why, if you like"},
    "unsubscribe.reason.too_many": {"fi": "Viestejä tuli liian usein", "sv": "Jag fick för många meddelanden", "en": "Too many messages"},
    "unsubscribe.reason.not_relevant": {"fi": "Sisältö ei kiinnosta minua", "sv": "Innehållet intresserar mig inte", "en": "The content is not relevant to me"},
    "unsubscribe.reason.never_signed_up": {"fi": "En ole tilannut näitä viestejä", "sv": "Jag har aldrig beställt dessa meddelanden", "en": "I never signed up for these"},
    "unsubscribe.reason.other": {"fi": "Muu syy", "sv": "Annat skäl", "en": "Another reason"},
    "unsubscribe.reason_text": {"fi": "Lisätietoja (vapaaehtoinen)", "sv": "Mer information (frivilligt)", "en": "Anything else (optional)"},
    "unsubscribe.reason_button": {"fi": "Lähetä", "sv": "Skicka", "en": "Send"},
    "unsubscribe.reason_thanks": {"fi": "Kiitos, että kerroit.", "sv": "Tack för att du berättade.", "en": "Thank you for telling us."},
    "unsubscribe.invalid": {
        "fi": "Tämä peruutuslinkki ei toimi: se on ehkä katkennut tai jäänyt vajaaksi kopioitaessa. Mitään ei muutettu. Voimme lähettää sähköpostiisi uuden linkin.",
        "sv": "Den här avregistreringslänken fungerar inte: den kan ha brutits eller kopierats ofullständigt. Inget ändrades. Vi kan skicka en ny länk till din e-post.",
        "en": "This unsubscribe link does not work: it may have been broken or cut short when copied. Nothing was changed. We can email you a fresh link.",
    },
    "unsubscribe.new_link": {"fi": "Lähetä minulle uusi linkki", "sv": "Skicka mig en ny länk", "en": "Email me a fresh link"},
    "unsubscribe.receipt": {"fi": "Lataa suostumuskuittisi", "sv": "Ladda ner ditt samtyckeskvitto", "en": "Download your consent receipt"},
    "resubscribe.title": {"fi": "Jatka tilaajana", "sv": "Fortsätt prenumerera", "en": "Stay subscribed"},
    "resubscribe.body": {
        "fi": "Paina painiketta, niin jatkat {org} -uutiskirjeen tilaajana.",
        "sv": "Tryck på knappen så fortsätter du att prenumerera på nyhetsbrevet från {org}.",
        "en": "Press the button to keep receiving the newsletter of {org}.",
    },
    "resubscribe.done_title": {"fi": "Tervetuloa takaisin", "sv": "Välkommen tillbaka", "en": "Welcome back"},
    "resubscribe.done": {
        "fi": "Olet jälleen {org} -uutiskirjeen tilaaja. Voit perua tilauksen milloin tahansa jokaisen viestin linkistä.",
        "sv": "Du prenumererar igen på nyhetsbrevet från {org}. Du kan avsluta när som helst via länken i varje meddelande.",
        "en": "You receive the newsletter of {org} again. You can unsubscribe at any time through the link in every message.",
    },
    "resubscribe.nothing": {
        "fi": "Mitään ei muutettu: tilauksesi tila on muuttunut peruutuksen jälkeen. Voit tilata uutiskirjeen uudelleen lomakkeella.",
        "sv": "Inget ändrades: din prenumeration har ändrats sedan du avslutade den. Du kan beställa nyhetsbrevet på nytt via formuläret.",
        "en": "Nothing was changed: your subscription has changed since you unsubscribed. You can subscribe again with the form.",
    },
    "resubscribe.expired": {
        "fi": "Tämä linkki oli voimassa tunnin, ja se on vanhentunut. Mitään ei muutettu. Voit tilata uutiskirjeen uudelleen lomakkeella.",
        "sv": "Länken gällde i en timme och har gått ut. Inget ändrades. Du kan beställa nyhetsbrevet på nytt via formuläret.",
        "en": "This link was valid for an hour and has expired. Nothing was changed. You can subscribe again with the form.",
    },
    "link.title": {"fi": "Peruutuslinkki sähköpostiisi", "sv": "Avregistreringslänk till din e-post", "en": "Get your unsubscribe link"},
    "link.intro": {
        "fi": "Kirjoita sähköpostiosoitteesi. Jos se on {org} -markkinointirekisterissä, lähetämme siihen linkin, josta voit perua tilauksen.",
        "sv": "Skriv din e-postadress. Om den finns i marknadsföringsregistret hos {org} skickar vi en länk dit som du kan avsluta prenumerationen med.",
        "en": "Type your email address. If it is on the marketing list of {org}, we will send it a link you can unsubscribe with.",
    },
    "link.button": {"fi": "Lähetä linkki", "sv": "Skicka länken", "en": "Send the link"},
    "link.sent_title": {"fi": "Katso sähköpostisi", "sv": "Titta i din e-post", "en": "Check your email"},
    "link.sent": {
        "fi": "Jos osoite on markkinointirekisterissämme, siihen on lähetetty peruutuslinkki. Jos viestiä ei tule muutamassa minuutissa (katso myös roskapostikansio), osoitetta ei ole rekisterissä eikä siihen lähetetä markkinointia.",
        "sv": "Om adressen finns i vårt marknadsföringsregister har en avregistreringslänk skickats dit. Om inget meddelande kommer inom några minuter (titta även i skräpposten) finns adressen inte i registret och ingen marknadsföring skickas dit.",
        "en": "If the address is on our marketing list, an unsubscribe link has been sent to it. If no message arrives within a few minutes (look in your spam folder too), the address is not on the list and receives no marketing.",
    },
    "mail.link.subject": {
        "fi": "Peruutuslinkkisi – {org}",
        "sv": "Din avregistreringslänk – {org}",
        "en": "Your unsubscribe link – {org}",
    },
    "mail.link.body": {
        "fi": "Hei,\n\npyysit linkkiä, jolla voit perua {org} -uutiskirjeen tilauksen. Avaa linkki ja paina sivun painiketta:\n\n{link}\n\nJos et pyytänyt tätä, voit jättää viestin huomiotta: tilauksesi pysyy ennallaan.",
        "sv": "Hej,\n\ndu bad om en länk för att avsluta prenumerationen på nyhetsbrevet från {org}. Öppna länken och tryck på knappen på sidan:\n\n{link}\n\nOm du inte bad om detta kan du ignorera meddelandet: din prenumeration förblir oförändrad.",
        "en": "Hello,\n\nyou asked for a link to unsubscribe from the newsletter of {org}. Open the link and press the button on the page:\n\n{link}\n\nIf you did not ask for this, ignore this message: your subscription stays as it is.",
    },
    "mail.link.button": {"fi": "Peru tilaus", "sv": "Avsluta prenumerationen", "en": "Unsubscribe"},
}


def has(key: str) -> bool:
    """Tell whether the catalogue has words for key."""
    return key in CATALOGUE


def t(language: str, key: str, **values: Any) -> str:
    """Return the text for key in language (falling back to Finnish), filled with values."""
    entry = CATALOGUE[key]
    text = entry.get(language) or entry["fi"]
    return text.format(**values) if values else text
