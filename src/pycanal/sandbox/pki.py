"""Throwaway certificates for sandbox servers and TLS tests: a CA, a server and a client certificate.

Made with ``cryptography`` (EC P-256 keys, one day of validity) into a directory the caller owns, so a
test session never needs openssl on the command line or a checked-in key. Imports: cryptography, stdlib.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclass(frozen=True)
class TestPki:
    """Paths of the PEM files (and a PKCS12 copy of the client certificate) in one directory."""

    __test__ = False  # not a pytest test class, despite the name

    directory: str
    ca_cert: str
    server_cert: str
    server_key: str
    client_cert: str
    client_key: str
    client_p12: str
    client_p12_password: str
    ca_p12: str


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _write(path: str, data: bytes) -> str:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    return path


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def make_test_pki(
    directory: str,
    *,
    ca_name: str = "pycanal test CA",
    server_dns: tuple[str, ...] = ("pycanal-sandbox",),
    server_ips: tuple[str, ...] = ("127.0.0.1",),
    p12_password: str = "changeit",
) -> TestPki:
    """Write ca.pem, server-cert.pem/-key.pem, client-cert.pem/-key.pem, client.p12 and ca.p12.

    The server certificate names ``server_dns`` and ``server_ips`` (by default 127.0.0.1 and a name that
    no resolver knows, so a hostname check against ``localhost`` fails on purpose).
    """
    os.makedirs(directory, exist_ok=True)
    now = datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=5)
    later = now + datetime.timedelta(days=1)

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name(ca_name))
        .issuer_name(_name(ca_name))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(later)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )  # keyCertSign, cRLSign
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    def leaf(common_name: str, usage: x509.ObjectIdentifier, san: list[x509.GeneralName]) -> tuple[bytes, bytes]:
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(common_name))
            .issuer_name(ca.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now)
            .not_valid_after(later)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        )
        if san:
            builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
        cert = builder.sign(ca_key, hashes.SHA256())
        return _cert_pem(cert), _key_pem(key)

    server_san: list[x509.GeneralName] = [x509.DNSName(d) for d in server_dns]
    server_san += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in server_ips]
    server_name = server_dns[0] if server_dns else "server"
    server_cert, server_key = leaf(server_name, ExtendedKeyUsageOID.SERVER_AUTH, server_san)
    client_cert, client_key = leaf("pycanal-client", ExtendedKeyUsageOID.CLIENT_AUTH, [])

    j = os.path.join
    ca_pem = _write(j(directory, "ca.pem"), _cert_pem(ca))
    pki = TestPki(
        directory=directory,
        ca_cert=ca_pem,
        server_cert=_write(j(directory, "server-cert.pem"), server_cert),
        server_key=_write(j(directory, "server-key.pem"), server_key),
        client_cert=_write(j(directory, "client-cert.pem"), client_cert),
        client_key=_write(j(directory, "client-key.pem"), client_key),
        client_p12=j(directory, "client.p12"),
        client_p12_password=p12_password,
        ca_p12=j(directory, "ca.p12"),
    )
    encryption = serialization.BestAvailableEncryption(p12_password.encode())
    p12 = pkcs12.serialize_key_and_certificates(
        b"client",
        serialization.load_pem_private_key(client_key, None),  # type: ignore[arg-type]
        x509.load_pem_x509_certificate(client_cert),
        [ca],
        encryption,
    )
    _write(pki.client_p12, p12)
    _write(pki.ca_p12, pkcs12.serialize_key_and_certificates(None, None, None, [ca], encryption))
    return pki
