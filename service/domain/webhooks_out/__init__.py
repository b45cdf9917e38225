"""Outbound consent events (webhooks) to the practice's other systems, one module per job.

- targets: where an endpoint may point (the SSRF policy) and what makes its URL usable;
- endpoints: adding, listing, disabling, deleting endpoints and rotating their secrets;
- emission: what each event says, queued as one outbox item per transaction;
- fan_out: the worker turns that item into one delivery per endpoint subscribed;
- delivery: signing, sending, recording each attempt, retrying or giving up;
- history: the deliveries and attempts an admin sees, and redelivering one.

The CLI and the staff pages use what admins do, re-exported here; the worker and the side-effect
table import the module they need.
"""

from service.domain.webhooks_out.emission import EVENT_TYPES
from service.domain.webhooks_out.endpoints import (
    EndpointInfo,
    add_endpoint,
    delete_endpoint,
    get_endpoint,
    list_endpoints,
    remove_endpoint,
    rotate_secret,
    set_enabled,
)
from service.domain.webhooks_out.history import DeliveryInfo, list_deliveries, redeliver
from service.domain.webhooks_out.targets import EndpointProblem, TargetRefused

__all__ = [
    "EVENT_TYPES", "DeliveryInfo", "EndpointInfo", "EndpointProblem", "TargetRefused",
    "add_endpoint", "delete_endpoint", "get_endpoint", "list_deliveries", "list_endpoints",
    "redeliver", "remove_endpoint", "rotate_secret", "set_enabled",
]
