"""The local Asterisk's certificates, as Asterisk's `contrib/scripts/ast_tls_cert` makes them: a private CA and a
server certificate it signs with a common name and no subjectAltName (so the gateway must verify it with
SIP_UPSTREAM_TLS_VERIFY=chain and the CA as SIP_UPSTREAM_CA_FILE)."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

VALID_DAYS = 365


@dataclass(frozen=True)
class Keys:
    ca: Path
    """The CA certificate (PEM): what the gateway trusts."""
    cert: Path
    key: Path
    combined: Path
    """Key and certificate in one PEM, as chan_sip's `dtlscertfile` takes them."""


def paths(directory: Path) -> Keys:
    return Keys(directory / "ca.crt", directory / "asterisk.crt", directory / "asterisk.key",
                directory / "asterisk.pem")


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "OmniSense devstack")])


def _pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                             serialization.NoEncryption())


def ensure(directory: Path, host: str) -> Keys:
    """The CA and the server certificate for `host` in `directory`, made once (kept while valid for a week)."""
    keys = paths(directory)
    now = datetime.datetime.now(datetime.UTC)
    if keys.combined.exists() and keys.ca.exists():
        current = x509.load_pem_x509_certificate(keys.cert.read_bytes())
        if current.subject == _name(host) and current.not_valid_after_utc > now + datetime.timedelta(days=7):
            return keys
    directory.mkdir(parents=True, exist_ok=True)
    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ca_name = _name("OmniSense devstack Asterisk CA")
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number())
          .not_valid_before(now - datetime.timedelta(hours=1))
          .not_valid_after(now + datetime.timedelta(days=VALID_DAYS))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                       data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                       crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cert = (x509.CertificateBuilder().subject_name(_name(host)).issuer_name(ca_name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=VALID_DAYS))
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    keys.ca.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    keys.cert.write_bytes(cert_pem)
    keys.key.write_bytes(_pem(key))
    keys.combined.write_bytes(_pem(key) + cert_pem)
    for secret in (keys.key, keys.combined):
        secret.chmod(0o600)
    return keys
