"""The OpenAPI document and the app agree: schemathesis fuzzes every documented operation.

Every built-in check is on: no 5xx, every status code, content type, header and body as
documented, schema-invalid requests refused with a 4xx, schema-valid ones accepted. "Accepted"
includes 422: the document describes the shape of a request, and some valid shapes still mean
nothing (an address email-validator refuses, a notice version that was never published, a phone
number for a channel that needs one); the answer then names the field, as documented. The
budget per operation is fixed and the examples derandomized, so a run is fast and repeatable;
on both databases, since NUL bytes and integer ranges are where they differ.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.config import SchemathesisConfig
from schemathesis.generation import GenerationMode

from tests.register_support import new_key

EXAMPLES = 30
OPENAPI = "/api/v1/openapi.json"
ACCEPTED = ["2xx", "3xx", "401", "403", "404", "409", "422", "429"]


def _schema(app: Any) -> Any:
    config = SchemathesisConfig.from_dict({
        "checks": {"positive_data_acceptance": {"expected-statuses": ACCEPTED}},
    })
    return schemathesis.openapi.from_wsgi(OPENAPI, app, config=config)


def _operations(app: Any) -> list[Any]:
    return [result.ok() for result in _schema(app).get_all_operations()]


def test_every_documented_operation_is_fuzzed(app: Any) -> None:
    labels = {op.label for op in _operations(app)}
    assert {"POST /api/v1/subscribe", "GET /api/v1/register", "POST /api/v1/withdrawals",
            "POST /unsubscribe/{token}", "POST /webhooks/forms/{source}"} <= labels


def test_the_app_answers_every_operation_as_its_openapi_document_says(
    app: Any, container: Any
) -> None:
    key = new_key(container, "fuzz", "staff")
    failures: list[str] = []
    for operation, mode in itertools.product(_operations(app), GenerationMode):

        @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                  phases=[Phase.explicit, Phase.generate, Phase.shrink],
                  suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy(generation_mode=mode))
        def fuzz(case: Any) -> None:
            case.headers = {**(case.headers or {}), "Authorization": f"Bearer {key}"}
            case.call_and_validate()

        try:
            fuzz()
        except Unsatisfiable:
            # No request breaks the document (a path's free-form token): nothing to send.
            assert mode == GenerationMode.NEGATIVE, operation.label
        except (Exception, BaseExceptionGroup) as exc:  # every operation's report, then fail
            failures.append(f"{operation.label} ({mode.value} data):\n{exc}")
    if failures:
        pytest.fail("\n\n".join(failures), pytrace=False)
