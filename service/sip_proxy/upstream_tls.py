"""The TLS client context for `wss://` upstreams, from SIP_UPSTREAM_CA_FILE and SIP_UPSTREAM_TLS_VERIFY.

Built once at start-up (loading a CA store costs milliseconds) and shared by every upstream leg and by the
readiness probe. The three modes (README, "Pointing it at Asterisk"):
- `full`: the certificate must chain to the CA file (or the system store) and name the host in a
  subjectAltName, as browsers require (a CN alone is not taken, whatever the OpenSSL version);
- `chain`: it must chain, but the host name is not checked: Asterisk's `ast_tls_cert` makes certificates
  with no subjectAltName at all;
- `none`: nothing is checked (start-up logs a warning).
"""

from __future__ import annotations

import ssl
from typing import Literal

TlsVerify = Literal["full", "chain", "none"]
MODES: tuple[TlsVerify, ...] = ("full", "chain", "none")


class CaFileError(ValueError):
    """The CA file cannot be read or holds no PEM certificate."""


def client_context(ca_file: str | None, verify: TlsVerify) -> ssl.SSLContext:
    """With `ca_file`, only its CAs are trusted (not the system store as well)."""
    try:
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=ca_file)
    except FileNotFoundError:
        raise CaFileError(f"cannot read {ca_file}: no such file") from None
    except ssl.SSLError as exc:
        raise CaFileError(f"{ca_file} holds no PEM certificate ({exc.reason or exc})") from None
    except OSError as exc:
        raise CaFileError(f"cannot read {ca_file}: {exc.strerror}") from None
    context.hostname_checks_common_name = False
    if verify == "chain":
        context.check_hostname = False
        context.verify_mode = ssl.CERT_REQUIRED
    elif verify == "none":
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def describe_failure(exc: BaseException) -> str:
    """A short text naming why a TLS or TCP connection failed, for logs and /readyz."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"TLS certificate not accepted: {exc.verify_message or exc.reason}"
    if isinstance(exc, ssl.SSLError):
        return f"TLS handshake failed: {exc.reason or exc}"
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    return f"{exc.__class__.__name__} {exc}".strip()
