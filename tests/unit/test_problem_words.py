"""A problem a person can meet on a page has words in every language; programs keep English.

Every `FieldProblem(...)` in the service is read from the source: one with a code must have
`problem.<code>` words in fi, sv and en, and one without a code must be one that only a program
(the JSON API, the CLI) can meet, listed below with why.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from service.domain import i18n, unsubscribe
from service.domain.languages import LANGUAGES
from service.domain.normalize import FieldProblem, InvalidInput, parse_notice
from service.web.answers import problem_words

SERVICE = Path(i18n.__file__).resolve().parent.parent

# (module, English as written): problems no page shows, so their English is all anyone reads.
PROGRAMS_ONLY = {
    # A JSON body's shape and types; a form post always sends text.
    ("domain/normalize.py", "'must be text'"),
    ("domain/optin.py", "'must be a list of email and/or sms'"),
    ("domain/unsubscribe.py", "'must be text'"),
    ("domain/unsubscribe.py", "'must be a JSON object'"),
    ("web/staff_api.py", "'must be a string'"),
    # The withdrawal API's body (POST /api/v1/withdrawals); the link's page asks nothing of this.
    ("domain/unsubscribe.py", "'is required unless contact_id is given'"),
    ("domain/unsubscribe.py", "'give either email or contact_id, not both'"),
    ("domain/unsubscribe.py", "'must be a list of email and/or sms'"),
    ("domain/unsubscribe.py", "f'must be text of at most {MAX_REASON_TEXT} characters'"),
    # Query parameters of the register API and the CLI's export.
    ("domain/register.py", "'must be email or sms'"),
    ("domain/register.py", "'must be a next_cursor from an earlier page'"),
    ("domain/register.py", "f'must be a whole number from 1 to {MAX_PAGE}'"),
    ("domain/exporting.py", "'must be csv or json'"),
    ("web/api.py", "'must be json or csv'"),
    # The staff API's export; the staff page links only to formats it has, in its own language.
    ("domain/rights.py", "'must be fi, sv or en'"),
    ("domain/rights.py", "'must be json, csv or jsonld'"),
    # `consent staff ...` on the command line names an account.
    ("domain/staff.py", "f'no account is named {name!r}'"),
}

# Problems a website's own form (posting to the public form's address) can cause, still without
# a code: optin.py belongs to the public form's work, which is to give them one.
NOT_YET_WORDED: set[tuple[str, str]] = set()


def field_problems() -> list[tuple[str, str, str]]:
    """Return (module, English as written, code) of every FieldProblem(...) in the service."""
    found = []
    for path in SERVICE.rglob("*.py"):
        module = path.relative_to(SERVICE).as_posix()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                    and node.func.id == "FieldProblem"):
                continue
            args = [*node.args, *(k.value for k in node.keywords if k.arg == "code")]
            code = args[2].value if len(args) > 2 and isinstance(args[2], ast.Constant) else ""
            found.append((module, ast.unparse(args[1]), str(code)))
    return found


def test_every_problem_code_has_words_in_every_language() -> None:
    codes = {code for _, _, code in field_problems() if code}
    assert "name_is_number" in codes and "query_short" in codes
    missing = sorted(code for code in codes if not i18n.has(f"problem.{code}"))
    assert not missing
    for code in codes:
        for language in LANGUAGES:
            assert i18n.t(language, f"problem.{code}", limit=12).strip(), (language, code)


def test_a_problem_without_a_code_is_one_only_programs_meet() -> None:
    uncoded = {(module, english) for module, english, code in field_problems() if not code}
    wordless = sorted(uncoded - PROGRAMS_ONLY - NOT_YET_WORDED)
    assert not wordless, f"give these a code and words in the catalogues: {wordless}"
    gone = (PROGRAMS_ONLY | NOT_YET_WORDED) - uncoded
    assert not gone, f"these have gone or have a code now; take them off the lists: {gone}"


def test_a_finnish_page_says_the_problem_in_finnish_and_a_program_reads_english() -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_notice("seitsemän")
    [notice] = caught.value.problems
    assert notice.problem == "must be a notice version number"
    assert problem_words("fi", notice) == (
        "ei ole kelvollinen versionumero: valitse julkaistu versio")
    assert problem_words("sv", notice).startswith("är inte ett giltigt versionsnummer")


def test_a_limit_is_written_into_the_words() -> None:
    short = FieldProblem("q", "type at least 2 characters", "query_short", 2)
    assert problem_words("fi", short).startswith("Kirjoita hakuun vähintään 2 merkkiä")
    assert problem_words("en", short).startswith("Please type at least 2 characters")


def test_an_unknown_unsubscribe_reason_is_told_in_the_persons_language() -> None:
    with pytest.raises(InvalidInput) as caught:
        unsubscribe.parse_reason("kiire", None)
    [reason] = caught.value.problems
    assert reason.problem.startswith("must be one of ")
    assert problem_words("fi", reason) == "valitse jokin annetuista vaihtoehdoista"
