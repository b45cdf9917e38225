"""/readyz tells a probe whether to send traffic; what is wrong inside is for staff only."""

from __future__ import annotations

import json
from typing import Any

from service.domain.mirror.status import MIRROR_STATE
from service.domain.models import ServiceState
from tests.register_support import readiness_details
from tests.staff_support import add_account, enrol_and_login

SECRET_DETAIL = "cannot read /etc/consent/google-key.json for consent@clinic.iam"


def _mirror_failed(container: Any) -> None:
    with container.uow() as uow:
        uow.session.merge(ServiceState(name=MIRROR_STATE, updated_at=container.clock.now(),
                                       value=json.dumps({"last_error": SECRET_DETAIL,
                                                         "needs_attention": True})))
        uow.commit()


def test_anyone_sees_only_the_status_and_how_long_the_check_took(
    client: Any, container: Any
) -> None:
    _mirror_failed(container)
    answer = client.get("/readyz")
    assert answer.status_code == 200
    body = answer.get_json()
    assert set(body) == {"status", "database", "database_ms"}
    assert "google-key" not in answer.get_data(as_text=True)


def test_an_api_key_or_a_staff_login_sees_the_details(
    app: Any, client: Any, container: Any, clock: Any
) -> None:
    _mirror_failed(container)
    assert readiness_details(client, container)["mirror"]["last_error"] == SECRET_DETAIL
    add_account(container, "omistaja", admin=True)
    staff_browser = app.test_client()
    enrol_and_login(staff_browser, clock, "omistaja")
    body = staff_browser.get("/readyz").get_json()
    assert body["mirror"]["last_error"] == SECRET_DETAIL
    assert "outbox" in body
    wrong = client.get("/readyz", headers={"Authorization": "Bearer wrong"}).get_json()
    assert "mirror" not in wrong
