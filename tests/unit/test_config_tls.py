"""canal's sslMode and key store keys in instance.properties: checked at load, mapped to TLS settings."""

from __future__ import annotations

import os
import ssl
from pathlib import Path

import pytest

from pycanal.config import load_instance_config, load_server_config
from pycanal.errors import ConfigError
from pycanal.instance import _master
from pycanal.sandbox.pki import TestPki, make_test_pki

P = "canal.instance.master"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> TestPki:
    return make_test_pki(str(tmp_path_factory.mktemp("pki")))


def load(tmp_path: Path, **keys: str) -> object:
    conf = tmp_path / "conf"
    (conf / "example").mkdir(parents=True, exist_ok=True)
    (conf / "canal.properties").write_text("canal.destinations = example\n")
    lines = [f"{P}.address = 127.0.0.1:3306", *(f"{k} = {v}" for k, v in keys.items())]
    (conf / "example" / "instance.properties").write_text("\n".join(lines) + "\n")
    return load_instance_config(conf, "example", load_server_config(conf, environ={}))


def test_canal_keys_map_to_tls_settings(tmp_path: Path, pki: TestPki) -> None:
    # a relative store path resolves against canal's working directory, <canal home>/bin
    (tmp_path / "certs").mkdir()
    os.symlink(pki.ca_p12, tmp_path / "certs" / "truststore.p12")
    cfg = load(
        tmp_path,
        **{
            f"{P}.sslMode": "verify_identity",
            f"{P}.tlsVersions": "TLSv1.2,TLSv1.3",
            f"{P}.trustCertificateKeyStoreUrl": "file:../certs/truststore.p12",
            f"{P}.trustCertificateKeyStoreType": "PKCS12",
            f"{P}.trustCertificateKeyStorePassword": pki.client_p12_password,
            f"{P}.clientCertificateKeyStoreUrl": f"file://{pki.client_p12}",
            f"{P}.clientCertificateKeyStorePassword": pki.client_p12_password,
        },
    )
    ssl_cfg = cfg.master.ssl  # type: ignore[attr-defined]
    assert ssl_cfg.mode == "VERIFY_IDENTITY" and ssl_cfg.trust_store_type == "PKCS12"
    assert ssl_cfg.trust_store_url == str(tmp_path / "certs" / "truststore.p12")
    assert ssl_cfg.client_store_url == pki.client_p12
    master = _master(cfg)  # type: ignore[arg-type]
    assert master is not None and master.tls is not None
    tls = master.tls
    assert tls.mode == "VERIFY_IDENTITY" and tls.ca_pem == Path(pki.ca_cert).read_bytes()
    assert tls.cert_pem is not None and tls.key_pem is not None
    assert (tls.min_version, tls.max_version) == (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3)
    ctx = tls.context()
    assert ctx.check_hostname and ctx.verify_mode == ssl.CERT_REQUIRED
    assert pki.client_p12_password not in repr(ssl_cfg)  # passwords stay out of logs


def test_disabled_reads_no_store(tmp_path: Path) -> None:
    cfg = load(tmp_path, **{f"{P}.trustCertificateKeyStoreUrl": "/no/such/truststore.jks"})
    assert cfg.master.ssl.mode == "DISABLED"  # type: ignore[attr-defined]
    assert _master(cfg).tls is None  # type: ignore[arg-type,union-attr]


def test_pem_files_are_used_directly(tmp_path: Path, pki: TestPki) -> None:
    combined = tmp_path / "client.pem"
    combined.write_bytes(Path(pki.client_cert).read_bytes() + Path(pki.client_key).read_bytes())
    cfg = load(
        tmp_path,
        **{
            f"{P}.sslMode": "VERIFY_CA",
            f"{P}.trustCertificateKeyStoreUrl": pki.ca_cert,
            f"{P}.clientCertificateKeyStoreUrl": str(combined),
        },
    )
    tls = _master(cfg).tls  # type: ignore[arg-type,union-attr]
    assert tls is not None and tls.ca_pem == Path(pki.ca_cert).read_bytes()


@pytest.mark.parametrize(
    ("key", "value", "reason"),
    [
        ("tlsVersions", "TLSv1.2,SSLv3", "'SSLv3' is not a TLS version"),
        ("trustCertificateKeyStoreUrl", "{missing}", "cannot read the key store"),
        ("trustCertificateKeyStoreUrl", "https://example.com/ca.pem", "files only"),
        ("trustCertificateKeyStoreUrl", "{jks}", "keytool -importkeystore"),
        ("trustCertificateKeyStoreUrl", "{ca_p12}", "wrong password"),
        ("clientCertificateKeyStoreUrl", "{client_cert}", "no PEM private key"),
        ("trustCertificateKeyStoreType", "BKS", "one of PEM, PKCS12, JKS"),
    ],
)
def test_bad_values_refuse_to_start_naming_file_key_value(
    tmp_path: Path, pki: TestPki, key: str, value: str, reason: str
) -> None:
    jks = tmp_path / "truststore.jks"
    jks.write_bytes(b"\xfe\xed\xfe\xed" + bytes(40))
    value = value.format(missing=tmp_path / "nope.pem", jks=jks, ca_p12=pki.ca_p12, client_cert=pki.client_cert)
    with pytest.raises(ConfigError) as info:
        load(tmp_path, **{f"{P}.sslMode": "REQUIRED", f"{P}.{key}": value})
    text = str(info.value)
    assert "instance.properties" in text and f"{P}.{key}" in text and repr(value) in text and reason in text, text


def test_standby_has_its_own_settings(tmp_path: Path, pki: TestPki) -> None:
    cfg = load(
        tmp_path,
        **{
            "canal.instance.standby.address": "127.0.0.1:3307",
            "canal.instance.standby.sslMode": "VERIFY_CA",
            "canal.instance.standby.trustCertificateKeyStoreUrl": pki.ca_cert,
        },
    )
    assert _master(cfg).tls is None  # type: ignore[arg-type,union-attr]
    standby = _master(cfg, standby=True)  # type: ignore[arg-type]
    assert standby is not None and standby.tls is not None and standby.tls.mode == "VERIFY_CA"
