"""A throw-away TLS certificate for the fakes (fake LMArena, gateway under test).

`make_self_signed(directory)` writes `cert.pem` and `key.pem` and returns their paths. The
certificate is its own issuer (a CA certificate with serverAuth usage), so a client trusts it by
using the certificate file as its CA bundle, e.g. `httpx.Client(verify=str(files.certfile))` or
`ssl.create_default_context(cafile=files.certfile)`. Chromium can be told to accept it with
`ignore_https_errors=True` (Playwright), `--ignore-certificate-errors`, or, for this certificate
alone, `--ignore-certificate-errors-spki-list=<spki_sha256(certfile)>`.

Subject alternative names cover both LMArena origins (protocol doc §1.1) so a browser whose host
resolver maps them to 127.0.0.1 sees a name match: lmarena.ai, *.lmarena.ai, arena.ai,
*.arena.ai, localhost, 127.0.0.1 and 127.0.0.2.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

DNS_NAMES = ("lmarena.ai", "*.lmarena.ai", "arena.ai", "*.arena.ai", "localhost")
IP_ADDRESSES = ("127.0.0.1", "127.0.0.2")


@dataclass(frozen=True, slots=True)
class TLSFiles:
    """PEM files for a TLS server; `certfile` doubles as the CA bundle clients should trust."""

    certfile: Path
    keyfile: Path


def make_self_signed(directory: Path | str, *, days: int = 7) -> TLSFiles:
    """Create a self-signed certificate + key in `directory` (created if missing)."""
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = _build_certificate(key, days)
    files = TLSFiles(certfile=folder / "cert.pem", keyfile=folder / "key.pem")
    files.certfile.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    files.keyfile.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return files


def _build_certificate(key: ec.EllipticCurvePrivateKey, days: int) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "lmarena.ai (fake)")])
    now = datetime.datetime.now(datetime.UTC)
    public_key = key.public_key()
    alt_names: list[x509.GeneralName] = [x509.DNSName(dns) for dns in DNS_NAMES]
    alt_names += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in IP_ADDRESSES]
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(public_key), critical=False
        )
        .sign(key, hashes.SHA256())
    )


def spki_sha256(certfile: Path) -> str:
    """The base64 SHA-256 of the certificate's public key: what Chromium's
    `--ignore-certificate-errors-spki-list` takes to trust this one certificate (and no other)
    in a browser launched with its own `--user-data-dir`."""
    cert = x509.load_pem_x509_certificate(Path(certfile).read_bytes())
    der = cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(hashlib.sha256(der).digest()).decode()
