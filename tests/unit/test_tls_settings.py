"""TLS settings without a server: canal's sslMode, tlsVersions and key store files (PEM, PKCS12, JKS)."""

from __future__ import annotations

import os
import ssl
import struct
from pathlib import Path

import pytest

from pycanal.errors import ConfigError, LocalProtocolError
from pycanal.mysql import constants as C
from pycanal.mysql.auth import AuthExchange
from pycanal.mysql.packet import PacketReader, build_ssl_request
from pycanal.mysql.tls import (
    TlsSettings,
    load_client_pem,
    load_client_store,
    load_trust_store,
    parse_tls_versions,
    store_path,
)
from pycanal.sandbox.pki import TestPki, make_test_pki


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> TestPki:
    return make_test_pki(str(tmp_path_factory.mktemp("pki")))


def test_ssl_request_bytes() -> None:
    caps = C.DEFAULT_CLIENT_FLAGS | C.CLIENT_SSL
    out = build_ssl_request(capabilities=caps, charset=45)
    assert len(out) == 32
    rd = PacketReader(out)
    assert (rd.read_u32(), rd.read_u32(), rd.read_u8(), rd.read_rest()) == (caps, C.MAX_PAYLOAD, 45, bytes(23))
    with pytest.raises(LocalProtocolError, match="CLIENT_SSL"):
        build_ssl_request(capabilities=C.DEFAULT_CLIENT_FLAGS, charset=45)


def test_caching_sha2_full_auth_over_tls_sends_the_password() -> None:
    # over TLS the server expects the password itself (NUL-terminated), not a public key request
    auth = AuthExchange("secret", "caching_sha2_password", bytes(range(20)) + b"\x00", secure=True)
    auth.initial_response()
    assert auth.receive(b"\x01\x04") == b"secret\x00"
    assert auth.receive(b"\x00\x00\x00\x02\x00\x00\x00") is None and auth.done
    plain = AuthExchange("secret", "caching_sha2_password", bytes(range(20)) + b"\x00")
    assert plain.receive(b"\x01\x04") == b"\x02"  # without TLS: ask for the RSA key


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", (None, None)),
        ("TLSv1.2,TLSv1.3", (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3)),
        (" tlsv1.3 ", (ssl.TLSVersion.TLSv1_3, ssl.TLSVersion.TLSv1_3)),
        ("TLSv1.3,TLSv1.2,", (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3)),
    ],
)
def test_tls_versions(text: str, expected: tuple[object, object]) -> None:
    assert parse_tls_versions(text) == expected


@pytest.mark.parametrize("text", ["SSLv3", "TLSv1.2;TLSv1.3", "TLS1.2"])
def test_bad_tls_versions(text: str) -> None:
    with pytest.raises(ConfigError, match="is not a TLS version"):
        parse_tls_versions(text)


def test_store_locations(tmp_path: Path) -> None:
    base = str(tmp_path / "bin")
    assert store_path("/etc/ca.pem", base) == "/etc/ca.pem"
    assert store_path("file:///etc/ca.pem", base) == "/etc/ca.pem"
    assert store_path("file:/etc/my%20ca.pem", base) == "/etc/my ca.pem"
    assert store_path("../conf/ca.pem", base) == str(tmp_path / "conf" / "ca.pem")
    assert store_path("file:../conf/ca.pem", base) == str(tmp_path / "conf" / "ca.pem")
    for bad in ("https://example.com/ca.pem", "classpath:ca.jks", "file://otherhost/ca.pem"):
        with pytest.raises(ConfigError, match="file"):
            store_path(bad, base)


def test_trust_store_pem_and_pkcs12_give_the_same_ca(pki: TestPki) -> None:
    pem = load_trust_store(pki.ca_cert)
    assert pem == Path(pki.ca_cert).read_bytes()
    assert load_trust_store(f"file:{pki.ca_p12}", "PKCS12", pki.client_p12_password) == pem
    assert load_trust_store(pki.ca_p12, "JKS", pki.client_p12_password) == pem  # the content decides


def test_trust_store_errors(pki: TestPki, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="wrong password"):
        load_trust_store(pki.ca_p12, "PKCS12", "not-the-password")
    with pytest.raises(ConfigError, match=r"cannot read the key store .*nope\.pem"):
        load_trust_store(str(tmp_path / "nope.pem"))
    with pytest.raises(ConfigError, match="not one of PEM, PKCS12, JKS"):
        load_trust_store(pki.ca_cert, "BKS")
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")
    with pytest.raises(ConfigError, match="no readable PEM certificate"):
        load_trust_store(str(garbage))
    noise = tmp_path / "noise.bin"
    noise.write_bytes(os.urandom(64))
    with pytest.raises(ConfigError, match="PKCS12"):
        load_trust_store(str(noise))


@pytest.mark.parametrize(("magic", "kind"), [(b"\xfe\xed\xfe\xed", "JKS"), (b"\xce\xce\xce\xce", "JCEKS")])
def test_java_key_stores_are_refused_with_the_conversion(tmp_path: Path, magic: bytes, kind: str) -> None:
    store = tmp_path / "truststore.jks"
    store.write_bytes(magic + struct.pack(">II", 2, 1) + os.urandom(40))
    with pytest.raises(ConfigError) as info:
        load_trust_store(str(store), "JKS", "changeit")
    text = str(info.value)
    assert f"Java {kind} key store" in text and str(store) in text
    assert "keytool -importkeystore" in text and "-deststoretype PKCS12" in text


def test_client_store_pem_pkcs12_and_separate_files(pki: TestPki, tmp_path: Path) -> None:
    cert = Path(pki.client_cert).read_bytes()
    combined = tmp_path / "client.pem"
    combined.write_bytes(cert + Path(pki.client_key).read_bytes())
    chain, key = load_client_store(str(combined))
    assert chain == cert and b"PRIVATE KEY" in key
    p12_chain, p12_key = load_client_store(pki.client_p12, "PKCS12", pki.client_p12_password)
    assert p12_chain.startswith(cert)  # the certificate, then the CA that came with it
    assert load_client_pem(pki.client_cert, pki.client_key) == (cert, key)
    assert p12_key == key


def test_client_store_errors(pki: TestPki, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no PEM private key"):
        load_client_store(pki.client_cert)
    with pytest.raises(ConfigError, match="does not belong to the certificate"):
        load_client_pem(pki.client_cert, pki.server_key)
    with pytest.raises(ConfigError, match="wrong password"):
        load_client_store(pki.client_p12, "PKCS12", "bad")
    with pytest.raises(ConfigError, match="needs a private key"):
        load_client_store(pki.ca_p12, "PKCS12", pki.client_p12_password)


def test_settings_per_mode(pki: TestPki) -> None:
    ca = load_trust_store(pki.ca_cert)
    assert not TlsSettings().enabled
    with pytest.raises(ConfigError, match="DISABLED has no TLS context"):
        TlsSettings().context()
    for mode in ("PREFERRED", "REQUIRED"):
        ctx = TlsSettings(mode, ca).context()  # a CA is not used: these modes do not verify
        assert (ctx.verify_mode, ctx.check_hostname) == (ssl.CERT_NONE, False)
    assert TlsSettings("PREFERRED").enabled and not TlsSettings("PREFERRED").required
    assert TlsSettings("REQUIRED").required and not TlsSettings("REQUIRED").verify
    ctx = TlsSettings("VERIFY_CA", ca).context()
    assert (ctx.verify_mode, ctx.check_hostname) == (ssl.CERT_REQUIRED, False)
    assert len(ctx.get_ca_certs()) == 1
    ctx = TlsSettings("VERIFY_IDENTITY", ca, min_version=ssl.TLSVersion.TLSv1_3).context()
    assert (ctx.verify_mode, ctx.check_hostname) == (ssl.CERT_REQUIRED, True)
    assert ctx.minimum_version == ssl.TLSVersion.TLSv1_3
    # equal settings compare equal (a master with TLS stays comparable), the context is not compared
    assert TlsSettings("VERIFY_CA", ca) == TlsSettings("VERIFY_CA", ca) != TlsSettings("VERIFY_CA")


def test_bad_settings(pki: TestPki) -> None:
    cert, key = load_client_pem(pki.client_cert, pki.client_key)
    with pytest.raises(ConfigError, match="not one of"):
        TlsSettings("ON")
    with pytest.raises(ConfigError, match="both the certificate and its private key"):
        TlsSettings("REQUIRED", cert_pem=cert)
    with pytest.raises(ConfigError, match="is empty"):
        TlsSettings("REQUIRED", min_version=ssl.TLSVersion.TLSv1_3, max_version=ssl.TLSVersion.TLSv1_2)
    other = load_client_pem(pki.server_cert, pki.server_key)[1]
    with pytest.raises(ConfigError, match="do not fit together"):
        TlsSettings("REQUIRED", cert_pem=cert, key_pem=other)
    assert TlsSettings("REQUIRED", cert_pem=cert, key_pem=key).context()


def test_from_key_stores(pki: TestPki, tmp_path: Path) -> None:
    s = TlsSettings.from_key_stores(
        "verify_ca",
        tls_versions="TLSv1.2,TLSv1.3",
        trust_url=f"file://{pki.ca_cert}",
        client_url=pki.client_p12,
        client_type="PKCS12",
        client_password=pki.client_p12_password,
    )
    assert s.mode == "VERIFY_CA" and s.ca_source == pki.ca_cert
    assert (s.min_version, s.max_version) == (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3)
    assert s.cert_pem is not None and s.key_pem is not None
    assert "CAs from " + pki.ca_cert in s.describe()
    # DISABLED reads nothing, as Connector/J ignores the stores then
    assert TlsSettings.from_key_stores("DISABLED", trust_url=str(tmp_path / "missing.jks")) == TlsSettings()
