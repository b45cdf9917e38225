"""Amazon SNS messages (how SES reports bounces and complaints): signature and subscription.

A message is believed only when its RSA signature verifies with the certificate at its
SigningCertURL, and that URL is https on sns.<region>.amazonaws.com: anything else is refused
before any request is made. The certificate fetcher is injected (tests serve their own).
"""

from __future__ import annotations

import base64
import re
import threading
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

import requests
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

SNS_HOST = re.compile(r"^sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$")
NOTIFICATION_KEYS = ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type")
SUBSCRIPTION_KEYS = ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn",
                     "Type")

CertFetcher = Callable[[str], bytes]


class SnsMessageRefused(Exception):
    """Not a genuine SNS message for us: bad URL, bad signature or malformed."""


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


def verify(message: Mapping[str, Any], fetch_cert: CertFetcher) -> None:
    """Verify an SNS message's signature (SignatureVersion 1: SHA1, 2: SHA256)."""
    if message.get("Type") not in ("Notification", "SubscriptionConfirmation",
                                   "UnsubscribeConfirmation"):
        raise SnsMessageRefused("unknown SNS message type")
    version = str(message.get("SignatureVersion", ""))
    if version not in ("1", "2"):
        raise SnsMessageRefused("unsupported SignatureVersion")
    url = check_sns_url(str(message.get("SigningCertURL", "")))
    try:
        signature = base64.b64decode(str(message.get("Signature", "")), validate=True)
        certificate = x509.load_pem_x509_certificate(fetch_cert(url))
    except (ValueError, TypeError):
        raise SnsMessageRefused("unreadable signature or certificate") from None
    key = certificate.public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        raise SnsMessageRefused("the signing certificate is not RSA")
    algorithm = hashes.SHA256() if version == "2" else hashes.SHA1()  # noqa: S303 - SNS v1
    try:
        key.verify(signature, string_to_sign(message), padding.PKCS1v15(), algorithm)
    except InvalidSignature:
        raise SnsMessageRefused("the signature does not verify") from None


class CachedCertFetcher:
    """Fetch SNS signing certificates over https from amazonaws.com only, and keep them."""

    def __init__(self, timeout: float = 10.0) -> None:
        """Start with an empty cache."""
        self.timeout = timeout
        self._cache: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def __call__(self, url: str) -> bytes:
        """Return the PEM at url (checked again here: this is the only place that fetches)."""
        check_sns_url(url)
        with self._lock:
            if url in self._cache:
                return self._cache[url]
        response = requests.get(url, timeout=self.timeout, allow_redirects=False)
        if response.status_code != 200:
            raise SnsMessageRefused(
                f"the certificate could not be fetched ({response.status_code})"
            )
        with self._lock:
            self._cache[url] = response.content
        return response.content


def confirm_subscription_with_requests(url: str) -> None:
    """Visit a SubscribeURL (already checked to be on sns.<region>.amazonaws.com)."""
    check_sns_url(url)
    response = requests.get(url, timeout=10.0, allow_redirects=False)
    response.raise_for_status()
