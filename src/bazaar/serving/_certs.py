"""A throwaway certificate authority and a localhost certificate it signs.

Browsers and niquests refuse a self-signed leaf that is its own CA, so there are two: a CA
(``ca.pem``, the only file a user trusts) and a leaf for ``localhost``, ``*.localhost``,
``127.0.0.1`` and ``::1`` (``cert.pem`` + ``key.pem``). Both keys are written 0600 and never
logged; the CA's key stays beside it so a lost leaf can be re-issued under the same trust.
Files that exist and are still valid are reused, so the CA a user trusted keeps working.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

#: The leaf's lifetime: short, like a real one (browsers cap public leaves at 398 days).
LEAF_DAYS = 90
CA_DAYS = 3650
#: Re-issue a leaf this close to its expiry.
RENEW_BEFORE = dt.timedelta(days=7)
NAMES = ("localhost",)  # no "*.localhost": a wildcard on a TLD is refused by clients
ADDRESSES = ("127.0.0.1", "::1")


class CertificateError(RuntimeError):
    """The TLS files in the directory are unusable (unreadable, not ours, not matching)."""


@dataclass(frozen=True)
class TlsFiles:
    """Where the CA and the localhost certificate live."""

    directory: Path

    @property
    def ca_cert(self) -> Path:
        return self.directory / "ca.pem"

    @property
    def ca_key(self) -> Path:
        return self.directory / "ca-key.pem"

    @property
    def cert(self) -> Path:
        return self.directory / "cert.pem"

    @property
    def key(self) -> Path:
        return self.directory / "key.pem"

    def spki_sha256(self) -> str:
        """base64 SHA-256 of the leaf's public key (what Chromium's
        ``--ignore-certificate-errors-spki-list`` pins)."""
        leaf = x509.load_pem_x509_certificate(self.cert.read_bytes())
        der = leaf.public_key().public_bytes(serialization.Encoding.DER,
                                             serialization.PublicFormat.SubjectPublicKeyInfo)
        return base64.b64encode(hashlib.sha256(der).digest()).decode()

    def ca_fingerprint(self) -> str:
        """SHA-256 fingerprint of the CA certificate, as ``AB:CD:…``."""
        ca = x509.load_pem_x509_certificate(self.ca_cert.read_bytes())
        return ca.fingerprint(hashes.SHA256()).hex(":").upper()


def ensure_certificates(directory: Path, *, now: dt.datetime | None = None) -> TlsFiles:
    """The CA and leaf under ``directory`` (made 0700), made or re-issued as needed."""
    directory.mkdir(parents=True, exist_ok=True)
    os.chmod(directory, 0o700)
    files = TlsFiles(directory)
    now = now or dt.datetime.now(dt.UTC)
    if files.ca_cert.exists() and files.ca_key.exists():
        ca_cert, ca_key = _load_ca(files)
        if ca_cert.not_valid_after_utc - RENEW_BEFORE < now:
            ca_cert, ca_key = _new_ca(files, now)
    else:
        ca_cert, ca_key = _new_ca(files, now)
    if not _leaf_valid(files, ca_cert, now):
        _new_leaf(files, ca_cert, ca_key, now)
    return files


def _load_ca(files: TlsFiles) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    try:
        cert = x509.load_pem_x509_certificate(files.ca_cert.read_bytes())
        key = serialization.load_pem_private_key(files.ca_key.read_bytes(), password=None)
    except (ValueError, OSError) as exc:
        raise CertificateError(f"the CA in {files.directory} cannot be read ({exc}); remove "
                               "the directory to make a new one") from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.public_key() != cert.public_key():
        raise CertificateError(f"{files.ca_key} is not the key of {files.ca_cert}")
    return cert, key


def _leaf_valid(files: TlsFiles, ca: x509.Certificate, now: dt.datetime) -> bool:
    if not (files.cert.exists() and files.key.exists()):
        return False
    try:
        leaf = x509.load_pem_x509_certificate(files.cert.read_bytes())
        key = serialization.load_pem_private_key(files.key.read_bytes(), password=None)
        leaf.verify_directly_issued_by(ca)
    except (ValueError, TypeError, OSError, InvalidSignature):
        return False
    return (key.public_key() == leaf.public_key()
            and leaf.not_valid_after_utc - RENEW_BEFORE > now)


def _write_private(path: Path, data: bytes) -> None:
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _new_ca(files: TlsFiles, now: dt.datetime
            ) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Bazaar (local)"),
                      x509.NameAttribute(NameOID.COMMON_NAME,
                                         f"Bazaar throwaway CA {now:%Y-%m-%d %H:%M:%S}")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=CA_DAYS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False,
                                         key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, key_cert_sign=True,
                                         crl_sign=True, encipher_only=False,
                                         decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                           critical=False)
            .sign(key, hashes.SHA256()))
    _write_private(files.ca_key, _pem_key(key))
    _write_private(files.ca_cert, cert.public_bytes(serialization.Encoding.PEM))
    return cert, key


def _new_leaf(files: TlsFiles, ca: x509.Certificate, ca_key: ec.EllipticCurvePrivateKey,
              now: dt.datetime) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    sans: list[x509.GeneralName] = [x509.DNSName(n) for n in NAMES]
    sans += [x509.IPAddress(ipaddress.ip_address(a)) for a in ADDRESSES]
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
            .issuer_name(ca.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=LEAF_DAYS))
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
                           critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    _write_private(files.key, _pem_key(key))
    _write_private(files.cert, cert.public_bytes(serialization.Encoding.PEM))
