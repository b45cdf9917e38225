"""The proof pack as a document: HTML for the screen, PDF to send (WeasyPrint).

Both the staff page and `consent proof` lay the pack out here, in the staff member's language
(Finnish, Swedish or English), with times in the practice's zone and words instead of codes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape

from service.domain import i18n
from service.domain.languages import LANGUAGES
from service.domain.proof import ProofPack

TEMPLATES = Path(__file__).parent / "proof_templates"

# The record's vocabulary, shared with the staff pages; the pack's own words are "proof.*".
SHARED = ("kind.", "method.", "actor.", "evidence.")


def words(language: str, key: str) -> str:
    """Return the pack's word for key in the language (the code itself when there is none)."""
    full = key if key.startswith(SHARED) else f"proof.{key}"
    if not i18n.has(full):
        return key.partition(".")[2] or key
    return i18n.t(language, full)


def _environment() -> Environment:
    return Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(),
                       trim_blocks=True, lstrip_blocks=True)


def render_html(pack: ProofPack, language: str) -> str:
    """Return the pack as one self-contained HTML page in the language."""
    lang = language if language in LANGUAGES else "fi"

    def w(key: str) -> str:
        return words(lang, key)

    def when(value: Any) -> str:
        # The pack's moments are already in its zone; the reader's locale writes them.
        return i18n.local_time(value, lang, pack.zone, seconds=True)

    def who(event: Any) -> str:
        return i18n.actor_words(lang, event.actor_type, event.actor_id)

    return _environment().get_template("pack.html").render(
        pack=pack, lang=lang, w=w, when=when, who=who,
        language_name=lambda code: i18n.language_name(code, lang),
        note=lambda text: i18n.note_words(lang, text))


def render_pdf(html: str) -> bytes:
    """Return the HTML page as a PDF (WeasyPrint; imported only when a PDF is asked for)."""
    from weasyprint import HTML

    pdf: bytes = HTML(string=html).write_pdf()
    return pdf
