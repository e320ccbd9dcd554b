"""The throwaway CA and localhost certificate: a chain a real TLS client accepts, keys 0600,
reused while valid, re-issued when not."""

from __future__ import annotations

import contextlib
import datetime as dt
import ssl
import stat
from pathlib import Path

from cryptography import x509

from bazaar.serving import ensure_certificates


def test_a_verifying_client_accepts_the_leaf_for_localhost(tmp_path: Path) -> None:
    files = ensure_certificates(tmp_path / "tls")
    client = ssl.create_default_context(cafile=str(files.ca_cert))
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(str(files.cert), str(files.key))
    c_in, c_out, s_in, s_out = ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO()
    c = client.wrap_bio(c_in, c_out, server_hostname="localhost")
    s = server.wrap_bio(s_in, s_out, server_side=True)
    for _ in range(10):  # a handshake in memory: each side feeds the other
        for side in (c, s):
            with contextlib.suppress(ssl.SSLWantReadError):
                side.do_handshake()
        s_in.write(c_out.read())
        c_in.write(s_out.read())
    assert c.version() == "TLSv1.3"
    leaf = x509.load_pem_x509_certificate(files.cert.read_bytes())
    names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in names.get_values_for_type(x509.DNSName)


def test_keys_are_private_and_files_are_reused(tmp_path: Path) -> None:
    files = ensure_certificates(tmp_path / "tls")
    for key in (files.key, files.ca_key):
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert stat.S_IMODE(files.directory.stat().st_mode) == 0o700
    before = files.ca_cert.read_bytes(), files.cert.read_bytes()
    again = ensure_certificates(tmp_path / "tls")
    assert (again.ca_cert.read_bytes(), again.cert.read_bytes()) == before
    assert len(again.spki_sha256()) == 44  # base64 of 32 bytes


def test_an_expiring_leaf_is_reissued_under_the_same_ca(tmp_path: Path) -> None:
    files = ensure_certificates(tmp_path / "tls")
    ca, leaf = files.ca_cert.read_bytes(), files.cert.read_bytes()
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=89)
    ensure_certificates(tmp_path / "tls", now=later)
    assert files.ca_cert.read_bytes() == ca
    assert files.cert.read_bytes() != leaf
    new = x509.load_pem_x509_certificate(files.cert.read_bytes())
    new.verify_directly_issued_by(x509.load_pem_x509_certificate(ca))


def test_a_leaf_from_another_ca_is_replaced(tmp_path: Path) -> None:
    files = ensure_certificates(tmp_path / "a")
    other = ensure_certificates(tmp_path / "b")
    files.cert.write_bytes(other.cert.read_bytes())
    files.key.write_bytes(other.key.read_bytes())
    ensure_certificates(tmp_path / "a")
    leaf = x509.load_pem_x509_certificate(files.cert.read_bytes())
    leaf.verify_directly_issued_by(x509.load_pem_x509_certificate(files.ca_cert.read_bytes()))
