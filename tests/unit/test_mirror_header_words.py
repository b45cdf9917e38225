"""The mirror's header comes from the catalogue, and its words stay what tools read."""

from service.domain.mirror.rows import header


def test_the_header_words_tools_rely_on_stay_the_same_in_every_language() -> None:
    assert header("fi") == (
        "Tunniste", "Sähköposti", "Nimi", "Puhelin", "Kieli", "Sähköpostilupa",
        "Sähköpostilupa alkaen", "Tekstiviestilupa", "Tekstiviestilupa alkaen", "Lähde",
        "Kirjaaja", "Peruutuslinkki")
    assert header("sv") == (
        "Id", "E-post", "Namn", "Telefon", "Språk", "E-posttillstånd", "E-posttillstånd sedan",
        "Sms-tillstånd", "Sms-tillstånd sedan", "Källa", "Registrerad av",
        "Avregistreringslänk")
    assert header("en") == (
        "Contact key", "Email", "Name", "Phone", "Language", "Email consent",
        "Email consent since", "SMS consent", "SMS consent since", "Source", "Recorded by",
        "Unsubscribe link")


def test_a_language_the_service_does_not_speak_gets_the_finnish_header() -> None:
    assert header("de") == header("fi")
