"""Amazon SNS messages (how SES reports bounces and complaints): signature and subscription.

A message is believed only when its RSA signature verifies with the certificate at its
SigningCertURL, that URL is https on sns.<region>.amazonaws.com (anything else is refused before
any request is made), and the certificate was issued for SNS, is within its validity period and
chains to a trusted root (the certifi bundle requests trusts, unless others are given). The
certificate fetcher and the trust roots are injected (tests serve their own CA).

When AWS cannot be reached (fetching the certificate, confirming a subscription) the message is
neither genuine nor forged: SnsUnavailable says so, and the caller answers 503 so SNS retries.
"""

from __future__ import annotations

import base64
import functools
import re
import threading
import warnings
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import requests
import requests.utils
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.utils import CryptographyDeprecationWarning
from cryptography.x509.oid import AuthorityInformationAccessOID, NameOID
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError

SNS_HOST = re.compile(r"^sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$")
# The name the signing certificate is issued for: sns.amazonaws.com in practice, regional names
# as AWS documents them.
SNS_CERTIFICATE_NAME = re.compile(r"^sns(\.[a-z0-9-]+)?\.amazonaws\.com(\.cn)?$")
# Where an SNS certificate's issuer (an Amazon intermediate) is published (AIA caIssuers).
AMAZON_ISSUER_HOST = re.compile(r"^([a-z0-9-]+\.)*amazontrust\.com$")
NOTIFICATION_KEYS = ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type")
SUBSCRIPTION_KEYS = ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn",
                     "Type")
FIX_NETWORK = "SNS will retry; check outbound HTTPS to amazonaws.com"

CertFetcher = Callable[[str], bytes]
TrustRoots = Sequence[x509.Certificate]


class SnsMessageRefused(Exception):
    """Not a genuine SNS message for us: bad URL, bad signature or certificate, or malformed."""


class SnsUnavailable(Exception):
    """AWS could not be reached to check or confirm a message; the message says what to fix."""


def check_sns_url(url: str) -> str:
    """Return the URL when it is https on sns.<region>.amazonaws.com; refuse anything else."""
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname or not SNS_HOST.match(parts.hostname) \
            or parts.port not in (None, 443) or parts.username or parts.password:
        raise SnsMessageRefused("the URL is not https://sns.<region>.amazonaws.com/...")
    return url


def string_to_sign(message: Mapping[str, Any]) -> bytes:
    """Return the canonical text SNS signs: chosen keys and values, one per line."""
    kind = message.get("Type")
    keys = NOTIFICATION_KEYS if kind == "Notification" else SUBSCRIPTION_KEYS
    lines: list[str] = []
    for key in keys:
        if key in message and message[key] is not None:
            lines += [key, str(message[key])]
    return ("\n".join(lines) + "\n").encode("utf-8")


@functools.cache
def _certifi_store() -> Store:
    """Return the CA bundle requests trusts (certifi's) as a store, read once per process."""
    with open(requests.utils.DEFAULT_CA_BUNDLE_PATH, "rb") as bundle:
        blocks = re.findall(rb"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----",
                            bundle.read(), re.DOTALL)
    roots = []
    for block in blocks:
        # One odd old root (a serial that is not positive) must not cost the whole bundle:
        # cryptography warns about it today and will refuse it later.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", CryptographyDeprecationWarning)
            try:
                roots.append(x509.load_pem_x509_certificate(block))
            except ValueError:
                continue
    return Store(roots)


def _sns_name(certificate: x509.Certificate) -> str | None:
    """Return the SNS host name the certificate is issued for, if it is issued for one."""
    try:
        names = certificate.extensions.get_extension_for_class(
            x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName)
    except x509.ExtensionNotFound:
        names = []
    common = [str(a.value) for a in certificate.subject.get_attributes_for_oid(
        NameOID.COMMON_NAME)]
    return next((n.lower() for n in [*names, *common] if SNS_CERTIFICATE_NAME.match(n.lower())),
                None)


def check_signing_certificate(
    pem: bytes, *, now: datetime, trust_roots: TrustRoots | None = None
) -> x509.Certificate:
    """Return the signing certificate once it is SNS's, current and chains to a trusted root.

    The PEM holds the certificate first, then any intermediates that came with it.
    """
    try:
        leaf, *intermediates = x509.load_pem_x509_certificates(pem)
    except ValueError:
        raise SnsMessageRefused("unreadable signing certificate") from None
    name = _sns_name(leaf)
    if name is None:
        raise SnsMessageRefused(
            f"the signing certificate is not issued for SNS ({leaf.subject.rfc4514_string()})"
        )
    if not leaf.not_valid_before_utc <= now <= leaf.not_valid_after_utc:
        raise SnsMessageRefused(
            "the signing certificate is outside its validity period "
            f"({leaf.not_valid_before_utc:%Y-%m-%d} to {leaf.not_valid_after_utc:%Y-%m-%d})"
        )
    if trust_roots is not None and not trust_roots:
        raise SnsMessageRefused("no trust roots to check the signing certificate against")
    store = _certifi_store() if trust_roots is None else Store(list(trust_roots))
    verifier = PolicyBuilder().store(store).time(now).build_server_verifier(x509.DNSName(name))
    try:
        verifier.verify(leaf, intermediates)
    except VerificationError as exc:
        raise SnsMessageRefused(
            f"the signing certificate does not chain to a trusted root ({exc})"
        ) from None
    return leaf


def verify(
    message: Mapping[str, Any], fetch_cert: CertFetcher, *, now: datetime,
    trust_roots: TrustRoots | None = None,
) -> None:
    """Verify an SNS message's signature (SignatureVersion 1: SHA1, 2: SHA256) and certificate.

    Raises SnsMessageRefused for anything not genuine, SnsUnavailable when AWS cannot be reached.
    """
    if message.get("Type") not in ("Notification", "SubscriptionConfirmation",
                                   "UnsubscribeConfirmation"):
        raise SnsMessageRefused("unknown SNS message type")
    version = str(message.get("SignatureVersion", ""))
    if version not in ("1", "2"):
        raise SnsMessageRefused("unsupported SignatureVersion")
    url = check_sns_url(str(message.get("SigningCertURL", "")))
    try:
        signature = base64.b64decode(str(message.get("Signature", "")), validate=True)
    except ValueError:
        raise SnsMessageRefused("unreadable signature") from None
    certificate = check_signing_certificate(fetch_cert(url), now=now, trust_roots=trust_roots)
    key = certificate.public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        raise SnsMessageRefused("the signing certificate is not RSA")
    algorithm = hashes.SHA256() if version == "2" else hashes.SHA1()  # noqa: S303 - SNS v1
    try:
        key.verify(signature, string_to_sign(message), padding.PKCS1v15(), algorithm)
    except InvalidSignature:
        raise SnsMessageRefused("the signature does not verify") from None


def _network_reason(exc: requests.RequestException, timeout: float) -> str:
    """Say in a few words why a request to AWS failed."""
    if isinstance(exc, requests.exceptions.SSLError):
        return "TLS failed (check the system clock and CA certificates)"
    if isinstance(exc, requests.Timeout):
        return f"no answer within {timeout:g} s"
    if isinstance(exc, requests.ConnectionError):
        return f"could not connect ({type(exc).__name__})"
    return type(exc).__name__


def _issuer_url(certificate: x509.Certificate) -> str | None:
    """Return the certificate's AIA caIssuers URL when it is on amazontrust.com."""
    try:
        access = certificate.extensions.get_extension_for_class(
            x509.AuthorityInformationAccess).value
    except x509.ExtensionNotFound:
        return None
    for description in access:
        location = description.access_location
        if description.access_method == AuthorityInformationAccessOID.CA_ISSUERS \
                and isinstance(location, x509.UniformResourceIdentifier):
            parts = urlsplit(location.value)
            if parts.scheme in ("http", "https") and parts.hostname \
                    and AMAZON_ISSUER_HOST.match(parts.hostname):
                return location.value
    return None


def _as_pem(raw: bytes) -> bytes:
    """Return a DER or PEM certificate as PEM (nothing when unreadable: the chain check fails)."""
    try:
        return x509.load_der_x509_certificate(raw).public_bytes(serialization.Encoding.PEM)
    except ValueError:
        pass
    try:
        return x509.load_pem_x509_certificate(raw).public_bytes(serialization.Encoding.PEM)
    except ValueError:
        return b""


class CachedCertFetcher:
    """Fetch SNS signing certificates over https from amazonaws.com only, and keep them.

    SNS serves the certificate alone; its Amazon intermediate is fetched from the address the
    certificate names (amazontrust.com only) so the chain can be checked against the roots.
    """

    def __init__(self, timeout: float = 10.0, *, session: requests.Session | None = None) -> None:
        """Start with an empty cache; session lets tests route requests (e.g. via a proxy)."""
        self.timeout = timeout
        self.session = session or requests.Session()
        self._cache: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def _get(self, url: str, what: str) -> bytes:
        parts = urlsplit(url)
        host = parts.hostname or ""
        fix = FIX_NETWORK if SNS_HOST.match(host) \
            else f"SNS will retry; check outbound {parts.scheme.upper()} to {host}"
        try:
            response = self.session.get(url, timeout=self.timeout, allow_redirects=False)
        except requests.RequestException as exc:
            raise SnsUnavailable(f"cannot fetch {what} from {host}: "
                                 f"{_network_reason(exc, self.timeout)}; {fix}") from None
        with response:
            if response.status_code >= 500:
                raise SnsUnavailable(f"cannot fetch {what} from {host}: it answered "
                                     f"{response.status_code}; SNS will retry")
            if response.status_code != 200:
                raise SnsMessageRefused(f"{what} could not be fetched ({response.status_code})")
            return response.content

    def __call__(self, url: str) -> bytes:
        """Return the PEM at url (checked again here: this is the only place that fetches)."""
        check_sns_url(url)
        with self._lock:
            if url in self._cache:
                return self._cache[url]
        pem = self._get(url, "the SNS signing certificate")
        try:
            found = x509.load_pem_x509_certificates(pem)
        except ValueError:
            raise SnsMessageRefused("unreadable signing certificate") from None
        issuer_url = _issuer_url(found[0]) if len(found) == 1 else None
        if issuer_url is not None:
            pem = pem.rstrip(b"\n") + b"\n" + _as_pem(
                self._get(issuer_url, "the SNS certificate's issuer"))
        with self._lock:
            self._cache[url] = pem
        return pem


def confirm_subscription_with_requests(
    url: str, *, session: requests.Session | None = None, timeout: float = 10.0
) -> None:
    """Visit a SubscribeURL (already checked to be on sns.<region>.amazonaws.com)."""
    check_sns_url(url)
    host = urlsplit(url).hostname
    try:
        response = (session or requests).get(url, timeout=timeout, allow_redirects=False)
    except requests.RequestException as exc:
        raise SnsUnavailable(f"cannot confirm the SNS subscription at {host}: "
                             f"{_network_reason(exc, timeout)}; {FIX_NETWORK}") from None
    with response:
        if not 200 <= response.status_code < 300:
            # The message was genuine; AWS refusing now (an old token, an outage) is no reason
            # to call it forged. SNS sends the confirmation again.
            raise SnsUnavailable(f"cannot confirm the SNS subscription at {host}: it answered "
                                 f"{response.status_code}; SNS will retry, or confirm it in "
                                 "the AWS console")
