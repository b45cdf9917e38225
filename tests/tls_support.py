"""Certificates for tests: a CA of the test's own and server certificates it issues."""

from __future__ import annotations

from datetime import datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID


def dn(common_name: str) -> x509.Name:
    """A distinguished name holding only a common name."""
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def make_ca(common_name: str, now: datetime) -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    """A root CA of the test's own, as a trust store would hold one."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = key.public_key()
    cert = (
        x509.CertificateBuilder().subject_name(dn(common_name)).issuer_name(dn(common_name))
        .public_key(public).serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=365)).not_valid_after(now + timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False,
                                     key_encipherment=False, data_encipherment=False,
                                     key_agreement=False, key_cert_sign=True, crl_sign=True,
                                     encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def issue(ca_key: rsa.RSAPrivateKey, ca: x509.Certificate, public: rsa.RSAPublicKey,
          dns_name: str, *, not_before: datetime, not_after: datetime,
          issuer_url: str | None = None) -> x509.Certificate:
    """A server certificate for dns_name, as a public CA issues one."""
    builder = (
        x509.CertificateBuilder().subject_name(dn(dns_name)).issuer_name(ca.subject)
        .public_key(public).serial_number(x509.random_serial_number())
        .not_valid_before(not_before).not_valid_after(not_after)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(dns_name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH,
                                              ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                       critical=False)
    )
    if issuer_url:
        builder = builder.add_extension(x509.AuthorityInformationAccess([
            x509.AccessDescription(AuthorityInformationAccessOID.CA_ISSUERS,
                                   x509.UniformResourceIdentifier(issuer_url))]), critical=False)
    return builder.sign(ca_key, hashes.SHA256())


def pem_bundle(*certs: x509.Certificate) -> bytes:
    """Certificates as one PEM file, in the order given."""
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)
