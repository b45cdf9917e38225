"""Replay the client corpus in tests/fixtures/clients: people, placeholders, encodings, auth.

A fixture is one real-shaped delivery (see tests/fixtures/clients/README.md). This module turns
it into the exact bytes and headers the add-on or provider sends, for one person, and reads back
what the register holds afterwards. The encoders here are written from the senders' own source
(PHP's json_encode and http_build_query, SNS's string to sign), not borrowed from the code under
test, so a mistake there cannot hide behind the same mistake here.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from sqlalchemy import select

from service.domain import register
from service.domain.models import ConsentEvent, Evidence, OutboxItem

CORPUS = Path(__file__).parent / "fixtures" / "clients"
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
PLACEHOLDER = re.compile(r"\{\{([a-z0-9_]+)\}\}")

UA_FIREFOX = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 "
              "Firefox/133.0")
UA_SAFARI = ("Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 "
             "(KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1")
UA_CHROME = ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 "
             "(KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36")


@dataclass(frozen=True)
class Person:
    """One visitor filling in the form (ASCII address, a name that may not be ASCII)."""

    first_name: str
    last_name: str
    email: str
    phone: str
    phone_e164: str
    ip: str
    user_agent: str
    browser: str
    entry_id: str

    @property
    def name(self) -> str:
        """Return the full name as a form's single name field would hold it."""
        return f"{self.first_name} {self.last_name}"

    def values(self) -> dict[str, str]:
        """Return what each placeholder stands for, for this person."""
        return {
            "email": self.email, "name": self.name, "first_name": self.first_name,
            "last_name": self.last_name, "phone": self.phone, "phone_e164": self.phone_e164,
            "ip": self.ip, "user_agent": self.user_agent, "browser": self.browser,
            "entry_id": self.entry_id,
        }


PEOPLE = (
    Person("Maija", "Meikäläinen", "maija.meikalainen@example.fi", "040 123 4567",
           "+358401234567", "203.0.113.11", UA_FIREFOX, "Firefox", "1041"),
    Person("Åsa", "Lindström", "asa.lindstrom@example.se", "+46 70 123 45 67",
           "+46701234567", "198.51.100.22", UA_SAFARI, "Safari", "1042"),
    Person("Liam", "O'Brien", "liam.obrien@example.ie", "+353 85 123 4567",
           "+353851234567", "192.0.2.33", UA_CHROME, "Chrome", "1043"),
)


# --- the corpus ---------------------------------------------------------------------------


def load(folder: str) -> list[dict[str, Any]]:
    """Return the fixtures of one folder (forms or providers), by file name."""
    found = []
    for path in sorted((CORPUS / folder).glob("*.json")):
        fixture = json.loads(path.read_text(encoding="utf-8"))
        fixture["_id"] = path.stem
        found.append(fixture)
    return found


def fill(value: Any, values: dict[str, str]) -> Any:
    """Replace {{placeholders}} in every text (keys too) of a fixture part."""
    if isinstance(value, str):
        return PLACEHOLDER.sub(lambda m: values[m.group(1)], value)
    if isinstance(value, list):
        return [fill(v, values) for v in value]
    if isinstance(value, dict):
        return {fill(k, values): fill(v, values) for k, v in value.items()}
    return value


def is_form_encoded(fixture: dict[str, Any]) -> bool:
    """Tell whether the fixture's body goes as a form (urlencoded or multipart)."""
    return fixture["content_type"].split(";")[0].strip() in FORM_TYPES


# --- how the senders encode ------------------------------------------------------------------


def php_json(value: Any) -> str:
    """Encode like PHP's json_encode with no flags (and WordPress' wp_json_encode).

    Compact, every non-ASCII character as a lower-case \\uXXXX escape, "/" escaped as "\\/".
    """
    return json.dumps(value, ensure_ascii=True, separators=(",", ":")).replace("/", "\\/")


def php_urlencode(text: str) -> str:
    """Encode like PHP's urlencode (what http_build_query uses): "+" for space, "~" escaped."""
    return quote_plus(text, safe="").replace("~", "%7E")


def http_build_query(pairs: Iterable[tuple[str, str]]) -> str:
    """Encode already-flattened PHP bracket keys and values like http_build_query."""
    return "&".join(f"{php_urlencode(k)}={php_urlencode(v)}" for k, v in pairs)


def multipart(pairs: Iterable[tuple[str, str]], boundary: str) -> bytes:
    """Encode text fields as a browser does for enctype="multipart/form-data"."""
    parts = []
    for key, value in pairs:
        parts.append(f"--{boundary}\r\nContent-Disposition: form-data; name=\"{key}\"\r\n\r\n"
                      f"{value}\r\n")
    parts.append(f"--{boundary}--\r\n")
    return "".join(parts).encode("utf-8")


def encode(fixture: dict[str, Any], body: Any) -> bytes:
    """Return the bytes the sender puts on the wire for this (filled) body."""
    encoding = fixture["encoding"]
    if encoding == "php_json":
        return php_json(body).encode("utf-8")
    if encoding == "json":
        return json.dumps(body).encode("utf-8")
    if encoding == "urlencoded":
        return http_build_query((k, v) for k, v in body).encode("ascii")
    if encoding == "multipart":
        return multipart(((k, v) for k, v in body), fixture["boundary"])
    raise ValueError(f"{fixture['_id']}: unknown encoding {encoding!r}")


# --- form deliveries ------------------------------------------------------------------------


@dataclass(frozen=True)
class Delivery:
    """One HTTP request exactly as the plugin sends it."""

    path: str
    raw: bytes
    content_type: str
    headers: dict[str, str]


def wpforms_signature(secret: str, timestamp: int, payload: bytes) -> str:
    """Sign like WPForms Webhooks' Process::generate_signature: t=<ts>,v=<hex HMAC-SHA256>."""
    digest = hmac.new(secret.encode("utf-8"), str(timestamp).encode() + b"." + payload,
                      hashlib.sha256)
    return f"t={timestamp},v={digest.hexdigest()}"


def basic(user: str, password: str) -> str:
    """Return an HTTP Basic Authorization value."""
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")


def form_delivery(fixture: dict[str, Any], source: str, token: str | None, person: Person,
                  *, now: int, body: Any = None) -> Delivery:
    """Build the delivery of a form fixture for one person (body: an already filled one)."""
    values = person.values()
    filled = fill(fixture["body"], values) if body is None else body
    raw = encode(fixture, filled)
    headers = dict(fill(fixture.get("headers", {}), values))
    path = f"/webhooks/forms/{source}"
    auth = fixture["auth"]
    if auth == "header":
        headers["X-Consent-Secret"] = str(token)
    elif auth == "query":
        path += f"?secret={token}"
    elif auth == "bearer":
        headers["Authorization"] = f"Bearer {token}"
    elif auth == "basic":
        headers["Authorization"] = basic(fixture.get("basic_user", "wordpress"), str(token))
    elif auth == "wpforms_signature":
        # JSON: over the bytes sent; FORM: over wp_json_encode() of the array sent as a form.
        signed = raw if fixture["encoding"] == "php_json" else php_json(dict(filled)).encode()
        headers["X-WPForms-Webhook-Signature"] = wpforms_signature(
            fixture["source_options"]["signing_secret"], now, signed)
    else:
        raise ValueError(f"{fixture['_id']}: unknown auth {auth!r}")
    return Delivery(path, raw, fixture["content_type"], headers)


def unticked(fixture: dict[str, Any], person: Person) -> Any:
    """Return the person's filled form body with the consent box left unticked."""
    keys = fixture["consent_key"]
    keys = keys if isinstance(keys, list) else [keys]
    body = fill(fixture["body"], person.values())
    return [[k, "" if k in keys else v] for k, v in body]


def post(client: Any, delivery: Delivery) -> Any:
    """Send a delivery through the Flask test client."""
    return client.post(delivery.path, data=delivery.raw, content_type=delivery.content_type,
                       headers=delivery.headers)


# --- what the register holds ----------------------------------------------------------------


def events_of(container: Any, contact_id: int) -> list[ConsentEvent]:
    """Return a contact's consent events, oldest first."""
    with container.session_factory() as session:
        query = select(ConsentEvent).where(ConsentEvent.contact_id == contact_id)
        return list(session.scalars(query.order_by(ConsentEvent.id)))


def all_events(container: Any) -> int:
    """Return how many consent events exist."""
    with container.session_factory() as session:
        return len(list(session.scalars(select(ConsentEvent.id))))


def evidence(container: Any, event_id: int) -> Evidence | None:
    """Return an event's evidence row."""
    with container.session_factory() as session:
        return session.scalars(select(Evidence).where(Evidence.event_id == event_id)).first()


def mails_to(container: Any, contact_id: int) -> list[OutboxItem]:
    """Return the emails queued for a contact."""
    with container.session_factory() as session:
        query = select(OutboxItem).where(OutboxItem.kind == "mail",
                                         OutboxItem.contact_id == contact_id)
        return list(session.scalars(query))


def all_mails(container: Any) -> int:
    """Return how many emails are queued."""
    with container.session_factory() as session:
        return len(list(session.scalars(select(OutboxItem.id).where(OutboxItem.kind == "mail"))))


def on_register(container: Any, email: str) -> bool:
    """Tell whether the address is among the register's email recipients."""
    with container.session_factory() as session:
        entries = register.read_batch(session, channel="email")
    return any(e.email == email for e in entries)


@dataclass
class Findings:
    """Collect every mismatch of one replay, so a failing test names all of them at once."""

    items: list[str] = field(default_factory=list)

    def check(self, ok: bool, message: str) -> bool:
        """Note message unless ok; return ok."""
        if not ok:
            self.items.append(message)
        return ok

    def equal(self, what: str, got: Any, want: Any) -> bool:
        """Note a mismatch between got and want."""
        return self.check(got == want, f"{what}: got {got!r}, want {want!r}")

    def assert_none(self, title: str) -> None:
        """Fail with every finding listed."""
        assert not self.items, title + ":\n  - " + "\n  - ".join(self.items)


# --- providers ------------------------------------------------------------------------------


def mailgun_sign(body: dict[str, Any], key: str, timestamp: int) -> dict[str, Any]:
    """Give a Mailgun event a fresh signature: hex HMAC-SHA256(key, timestamp + token)."""
    token = uuid.uuid4().hex + uuid.uuid4().hex[:18]  # Mailgun's tokens are 50 hex digits
    digest = hmac.new(key.encode("utf-8"), f"{timestamp}{token}".encode(), hashlib.sha256)
    return {**body, "signature": {"timestamp": str(timestamp), "token": token,
                                  "signature": digest.hexdigest()}}


def sendgrid_public_key(key: ec.EllipticCurvePrivateKey) -> str:
    """Return the public key as SendGrid shows its Verification Key (base64 DER)."""
    der = key.public_key().public_bytes(serialization.Encoding.DER,
                                        serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(der).decode("ascii")


def sendgrid_headers(key: ec.EllipticCurvePrivateKey, raw: bytes,
                     timestamp: int) -> dict[str, str]:
    """Sign like SendGrid's Signed Event Webhook: ECDSA P-256/SHA-256 over timestamp + body."""
    signature = key.sign(str(timestamp).encode() + raw, ec.ECDSA(hashes.SHA256()))
    return {"X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode(),
            "X-Twilio-Email-Event-Webhook-Timestamp": str(timestamp)}


SNS_NOTIFICATION_KEYS = ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type")
SNS_SUBSCRIPTION_KEYS = ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token",
                         "TopicArn", "Type")


def sns_string_to_sign(message: dict[str, Any]) -> bytes:
    """Return what SNS signs: the chosen keys in order, each "key\\nvalue\\n"."""
    keys = SNS_NOTIFICATION_KEYS if message["Type"] == "Notification" else SNS_SUBSCRIPTION_KEYS
    return "".join(f"{k}\n{message[k]}\n" for k in keys if message.get(k) is not None).encode()


# The signing certificate's validity, around the tests' fake clock (2026-11-20): SNS's own
# certificates are valid for about a year.
SNS_CERT_VALID = (datetime(2026, 6, 1, tzinfo=UTC), datetime(2027, 6, 1, tzinfo=UTC))


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


@dataclass
class FakeSns:
    """SNS's signing key and certificate, issued by a root CA the app is told to trust."""

    key: rsa.RSAPrivateKey
    pem: bytes
    ca: x509.Certificate
    fetched: list[str] = field(default_factory=list)
    confirmed: list[str] = field(default_factory=list)

    @classmethod
    def create(cls) -> FakeSns:
        """Make a root CA and a certificate it issues to sns.amazonaws.com, as AWS's is."""
        ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        ca = (x509.CertificateBuilder().subject_name(_name("Corpus Test Root CA"))
              .issuer_name(_name("Corpus Test Root CA")).public_key(ca_key.public_key())
              .serial_number(x509.random_serial_number())
              .not_valid_before(datetime(2020, 1, 1, tzinfo=UTC))
              .not_valid_after(datetime(2040, 1, 1, tzinfo=UTC))
              .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
              .add_extension(x509.KeyUsage(
                  digital_signature=False, content_commitment=False, key_encipherment=False,
                  data_encipherment=False, key_agreement=False, key_cert_sign=True,
                  crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
              .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()),
                             critical=False)
              .sign(ca_key, hashes.SHA256()))
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        leaf = (x509.CertificateBuilder().subject_name(_name("sns.amazonaws.com"))
                .issuer_name(ca.subject).public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(SNS_CERT_VALID[0]).not_valid_after(SNS_CERT_VALID[1])
                .add_extension(x509.SubjectAlternativeName([x509.DNSName("sns.amazonaws.com")]),
                               critical=False)
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH,
                                                      ExtendedKeyUsageOID.CLIENT_AUTH]),
                               critical=False)
                .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                    ca_key.public_key()), critical=False)
                .sign(ca_key, hashes.SHA256()))
        return cls(key, leaf.public_bytes(serialization.Encoding.PEM), ca)

    def fetch(self, url: str) -> bytes:
        """Serve the certificate (what the app's cert fetcher is replaced with)."""
        self.fetched.append(url)
        return self.pem

    def sign(self, envelope: dict[str, Any]) -> dict[str, Any]:
        """Sign an SNS envelope by its SignatureVersion (1: SHA1, 2: SHA256)."""
        version_2 = envelope["SignatureVersion"] == "2"
        algorithm = hashes.SHA256() if version_2 else hashes.SHA1()  # noqa: S303 - SNS v1
        signature = self.key.sign(sns_string_to_sign(envelope), padding.PKCS1v15(), algorithm)
        return {**envelope, "Signature": base64.b64encode(signature).decode("ascii")}


def sns_envelope(fixture: dict[str, Any], values: dict[str, str], fake: FakeSns) -> bytes:
    """Fill an SNS fixture, put the SES notification in Message as SNS does, and sign it."""
    envelope = fill(fixture["body"], values)
    if isinstance(envelope.get("Message"), dict):
        envelope["Message"] = json.dumps(envelope["Message"], separators=(",", ":"))
    return json.dumps(fake.sign(envelope), indent=2).encode("utf-8")


def people_values(count: int) -> dict[str, str]:
    """Return the provider placeholders: {{email}} is the first person, {{email_2}} the next."""
    values = {"email": PEOPLE[0].email}
    for index, person in enumerate(PEOPLE[:count], start=1):
        values[f"email_{index}"] = person.email
    return values


def ids(fixtures: Iterable[dict[str, Any]]) -> Iterator[str]:
    """Return the pytest ids of fixtures: their file names."""
    return (f["_id"] for f in fixtures)
