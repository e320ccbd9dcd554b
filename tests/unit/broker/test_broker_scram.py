"""SCRAM's server side against RFC 7677's SCRAM-SHA-256 test vector, a client written from
RFC 5802's formulas (for SHA-512), and malformed or hostile messages; ACL matching."""

from __future__ import annotations

import base64
import hashlib
import hmac
from pathlib import Path

import pytest

from bazaar.broker.security import (
    Acl,
    AclStore,
    AuthFailure,
    Authorizer,
    CredentialStore,
    SaslSession,
    ScramError,
    ScramServer,
)
from bazaar.broker.security.scram import Keys, keys_from_salted, salted_password

# RFC 7677 section 3: user "user", password "pencil"
RFC_SALT = base64.b64decode("W22ZaJ0SNY7soEsUEjb6gQ==")
RFC_CLIENT_FIRST = b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO"
RFC_SERVER_NONCE = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
RFC_SERVER_FIRST = (b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
                    b"s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096")
RFC_CLIENT_FINAL = (b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
                    b"p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=")
RFC_SERVER_FINAL = b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="


def rfc_keys(user: str) -> Keys | None:
    if user != "user":
        return None
    salted = salted_password("sha256", b"pencil", RFC_SALT, 4096)
    return keys_from_salted("sha256", salted, RFC_SALT, 4096)


def test_rfc7677_vector() -> None:
    server = ScramServer("SCRAM-SHA-256", rfc_keys, nonce=RFC_SERVER_NONCE)
    assert server.first(RFC_CLIENT_FIRST) == RFC_SERVER_FIRST
    assert server.final(RFC_CLIENT_FINAL) == RFC_SERVER_FINAL


def client_final(hash_name: str, password: bytes, client_first_bare: str,
                 server_first: str, nonce_override: str | None = None) -> bytes:
    """A SCRAM client's final message, from RFC 5802 section 3."""
    attrs = dict(a.split("=", 1) for a in server_first.split(","))
    salted = salted_password(hash_name, password, base64.b64decode(attrs["s"]),
                             int(attrs["i"]))
    client_key = hmac.digest(salted, b"Client Key", hash_name)
    stored = hashlib.new(hash_name, client_key).digest()
    without_proof = f"c=biws,r={nonce_override or attrs['r']}"
    auth = f"{client_first_bare},{server_first},{without_proof}".encode()
    sig = hmac.digest(stored, auth, hash_name)
    proof = bytes(a ^ b for a, b in zip(client_key, sig, strict=True))
    return f"{without_proof},p={base64.b64encode(proof).decode()}".encode()


@pytest.fixture
def store(tmp_path: Path) -> CredentialStore:
    s = CredentialStore.under(tmp_path)
    s.add("alice", "s3cret pass", iterations=4096)
    return s


def test_stored_credentials_hold_no_password(store: CredentialStore, tmp_path: Path) -> None:
    text = (tmp_path / "security" / "users.json").read_text()
    assert "s3cret" not in text
    assert (tmp_path / "security" / "users.json").stat().st_mode & 0o077 == 0
    keys = store.keys("alice", "SCRAM-SHA-512")
    assert keys is not None and keys.iterations >= 4096 and len(keys.salt) >= 16
    assert store.check_password("alice", "s3cret pass")
    assert not store.check_password("alice", "s3cret pas")
    assert not store.check_password("bob", "s3cret pass")


@pytest.mark.parametrize(("mechanism", "hash_name"), [("SCRAM-SHA-256", "sha256"),
                                                      ("SCRAM-SHA-512", "sha512")])
def test_session_scram_exchange(store: CredentialStore, mechanism: str,
                                hash_name: str) -> None:
    session = SaslSession(store, (mechanism,))
    assert session.handshake(mechanism)
    first = session.step(b"n,,n=alice,r=abcdefgh").decode()
    final = client_final(hash_name, b"s3cret pass", "n=alice,r=abcdefgh", first)
    answer = session.step(final)
    assert answer.startswith(b"v=") and session.principal == "User:alice"
    with pytest.raises(AuthFailure):  # nothing more after success
        session.step(b"n,,n=alice,r=x")


@pytest.mark.parametrize("case", ["wrong password", "wrong nonce", "unknown user"])
def test_session_scram_refusals(store: CredentialStore, case: str) -> None:
    session = SaslSession(store, ("SCRAM-SHA-256",))
    assert session.handshake("SCRAM-SHA-256")
    user = "mallory" if case == "unknown user" else "alice"
    first = session.step(f"n,,n={user},r=abcdefgh".encode()).decode()
    assert ",i=4096" in first  # an unknown user gets a plausible salt, not an error
    password = b"guess" if case == "wrong password" else b"s3cret pass"
    final = client_final("sha256", password, f"n={user},r=abcdefgh", first,
                         nonce_override="abcdefghXYZ" if case == "wrong nonce" else None)
    with pytest.raises(AuthFailure):
        session.step(final)
    assert session.principal is None


@pytest.mark.parametrize("message", [
    b"", b"\xff\xfe", b"n,,", b"y,,n=alice,r=abc", b"p=tls-unique,,n=alice,r=abc",
    b"n,,r=abc,n=alice", b"n,,n=alice", b"n,,n=,r=abc", b"n,,n=al=ZZice,r=abc",
    b"n,,n=alice,r=ab,c", b"n,,n=alice,r=abc,m=ext", b"n,,n=alice,r=abc,tokenauth=true",
    b"n,a=bob,n=alice,r=abc", b"n,,n=alice,r=a" + b"b" * 5000, b"x" * 100,
])
def test_malformed_client_first_is_refused(store: CredentialStore, message: bytes) -> None:
    server = ScramServer("SCRAM-SHA-256", lambda u: store.keys(u, "SCRAM-SHA-256"))
    with pytest.raises(ScramError):
        server.first(message)


@pytest.mark.parametrize("message", [
    b"", b"c=biws", b"c=biws,r=NONCE", b"r=NONCE,c=biws,p=AAAA", b"c=Zm9v,r=NONCE,p=AAAA",
    b"c=biws,r=NONCE,p=!!notbase64!!", b"c=biws,r=NONCE,p=AAAA", b"c=biws,r=NONCE,p=AAAA,x=1",
])
def test_malformed_client_final_is_refused(store: CredentialStore, message: bytes) -> None:
    server = ScramServer("SCRAM-SHA-256", lambda u: store.keys(u, "SCRAM-SHA-256"),
                         nonce="srv")
    server.first(b"n,,n=alice,r=cli")
    with pytest.raises(ScramError):
        server.final(message.replace(b"NONCE", b"clisrv"))
    with pytest.raises(ScramError):  # one final attempt per exchange
        server.final(message)


def test_plain(store: CredentialStore) -> None:
    ok = SaslSession(store, ("PLAIN",))
    assert ok.handshake("PLAIN") and not ok.handshake("PLAIN")
    ok.step(b"\0alice\0s3cret pass")
    assert ok.principal == "User:alice"
    for token in (b"\0alice\0wrong", b"alice\0s3cret pass", b"bob\0alice\0s3cret pass",
                  b"\0\xff\0x", b"\0alice\0s3cret pass\0extra"):
        bad = SaslSession(store, ("PLAIN",))
        assert bad.handshake("PLAIN")
        with pytest.raises(AuthFailure):
            bad.step(token)
    assert not SaslSession(store, ("SCRAM-SHA-256",)).handshake("PLAIN")


def test_acl_matching_and_store(tmp_path: Path) -> None:
    store = AclStore.under(tmp_path)
    authz = Authorizer(store, super_users=("User:admin",))
    assert not authz.allows("User:alice", "topic", "orders", "READ")  # default deny
    assert authz.allows("User:admin", "topic", "orders", "DELETE")
    assert store.add(Acl("User:alice", "topic", "orders", "READ"))
    assert not store.add(Acl("User:alice", "topic", "orders", "READ"))
    assert store.add(Acl("User:*", "group", "shop-", "ALL", "prefixed"))
    store.file.reload()
    assert authz.allows("User:alice", "topic", "orders", "READ")
    assert authz.allows("User:alice", "topic", "orders", "DESCRIBE")  # READ implies it
    assert not authz.allows("User:alice", "topic", "orders", "WRITE")
    assert not authz.allows("User:alice", "topic", "orders2", "READ")
    assert not authz.allows("User:bob", "topic", "orders", "READ")
    assert authz.allows("User:bob", "group", "shop-payments", "READ")
    assert not authz.allows("User:bob", "group", "other", "READ")
    assert store.remove(Acl("User:alice", "topic", "orders", "READ"))
    assert not store.remove(Acl("User:alice", "topic", "orders", "READ"))
    assert not authz.allows("User:alice", "topic", "orders", "READ")
    assert Authorizer(None).allows("User:ANONYMOUS", "topic", "x", "WRITE")  # plaintext


def test_old_librdkafka_doubled_client_nonce_is_accepted_only_in_that_form(
        store: CredentialStore) -> None:
    """librdkafka < 2.6.1 sends r=cnonce+cnonce+snonce; the server part is still checked."""
    for echoed, ok in (("abcdefgh" + "abcdefgh", True), ("zzzzzzzz" + "abcdefgh", False),
                       ("abcdefgh" * 3, False)):
        server = ScramServer("SCRAM-SHA-256", lambda u: store.keys(u, "SCRAM-SHA-256"),
                             nonce="SRV")
        first = server.first(b"n,,n=alice,r=abcdefgh").decode()
        final = client_final("sha256", b"s3cret pass", "n=alice,r=abcdefgh", first,
                             nonce_override=echoed + "SRV")
        if ok:
            assert server.final(final).startswith(b"v=")
        else:
            with pytest.raises(ScramError, match="nonce"):
                server.final(final)
