"""TLS for MySQL connections: canal's ``sslMode`` values and the certificates, as one immutable object.

The modes are MySQL Connector/J's (which canal passes its ``canal.instance.master.sslMode`` to):
DISABLED never uses TLS; PREFERRED uses it when the server offers it; REQUIRED uses it or refuses to
connect, without checking the certificate; VERIFY_CA also checks the certificate chain against the
trusted CAs; VERIFY_IDENTITY also checks that the certificate names the host connected to.

Java key stores are read here, so that the rest of pycanal only sees PEM bytes: a PEM file is used as
it is, a PKCS12 file (``.p12``/``.pfx``, what ``keytool`` writes since Java 9) is converted in memory with
``cryptography``, and a JKS/JCEKS file is refused with the command that converts it. Every problem is a
:class:`~pycanal.errors.ConfigError` whose message names the file; the caller adds the key.
Imports: pycanal.errors, ssl and the standard library; cryptography to read certificates and PKCS12.
"""

from __future__ import annotations

import os
import re
import secrets
import ssl
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import unquote, urlparse

from ..errors import ConfigError

DISABLED = "DISABLED"
PREFERRED = "PREFERRED"
REQUIRED = "REQUIRED"
VERIFY_CA = "VERIFY_CA"
VERIFY_IDENTITY = "VERIFY_IDENTITY"
SSL_MODES = (DISABLED, PREFERRED, REQUIRED, VERIFY_CA, VERIFY_IDENTITY)

TLS_VERSIONS: dict[str, ssl.TLSVersion] = {
    "TLSv1": ssl.TLSVersion.TLSv1,
    "TLSv1.1": ssl.TLSVersion.TLSv1_1,
    "TLSv1.2": ssl.TLSVersion.TLSv1_2,
    "TLSv1.3": ssl.TLSVersion.TLSv1_3,
}
STORE_TYPES = ("PEM", "PKCS12", "JKS")

_JKS_MAGIC = b"\xfe\xed\xfe\xed"
_JCEKS_MAGIC = b"\xce\xce\xce\xce"
_PEM_KEY = re.compile(rb"-----BEGIN ((?:[A-Z]+ )*)PRIVATE KEY-----.+?-----END \1PRIVATE KEY-----", re.DOTALL)


@dataclass(frozen=True)
class TlsSettings:
    """How one MySQL connection uses TLS. Built once (the SSL context is made and checked here) and
    shared by every connection to the same server.

    ``ca_pem``: the trusted CAs (PEM); ``None`` means the system's CAs, used by the VERIFY modes only.
    ``cert_pem``/``key_pem``: a client certificate chain and its key (PEM), for servers that ask for one
    (``REQUIRE X509``). ``min_version``/``max_version`` bound the TLS versions (``tlsVersions``).
    """

    mode: str = DISABLED
    ca_pem: bytes | None = field(default=None, repr=False)
    cert_pem: bytes | None = field(default=None, repr=False)
    key_pem: bytes | None = field(default=None, repr=False)
    min_version: ssl.TLSVersion | None = None
    max_version: ssl.TLSVersion | None = None
    ca_source: str = ""  # where the CAs came from, for error messages
    _context: ssl.SSLContext | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.mode not in SSL_MODES:
            raise ConfigError(f"sslMode {self.mode!r} is not one of {', '.join(SSL_MODES)}")
        if (self.cert_pem is None) != (self.key_pem is None):
            raise ConfigError("a client certificate needs both the certificate and its private key")
        if self.min_version and self.max_version and self.min_version > self.max_version:
            raise ConfigError(f"TLS version range {self.min_version.name}..{self.max_version.name} is empty")
        if self.mode != DISABLED:
            object.__setattr__(self, "_context", self._make_context())

    @property
    def enabled(self) -> bool:
        """TLS is to be used whenever the server offers it."""
        return self.mode != DISABLED

    @property
    def required(self) -> bool:
        """A server without TLS is refused."""
        return self.mode in (REQUIRED, VERIFY_CA, VERIFY_IDENTITY)

    @property
    def verify(self) -> bool:
        return self.mode in (VERIFY_CA, VERIFY_IDENTITY)

    @classmethod
    def from_key_stores(
        cls,
        mode: str,
        *,
        tls_versions: str = "",
        trust_url: str = "",
        trust_type: str = "",
        trust_password: str = "",
        client_url: str = "",
        client_type: str = "",
        client_password: str = "",
        base_dir: str = ".",
    ) -> TlsSettings:
        """Settings from canal's keys (``sslMode``, ``tlsVersions``, ``trust/clientCertificateKeyStore*``).

        With sslMode DISABLED the stores are not read, as Connector/J ignores them then.
        """
        mode = mode.strip().upper() or DISABLED
        if mode == DISABLED:
            return cls(DISABLED)
        low, high = parse_tls_versions(tls_versions)
        ca = cert = key = None
        source = ""
        if trust_url.strip():
            source = store_path(trust_url, base_dir)
            ca = load_trust_store(trust_url, trust_type, trust_password, base_dir=base_dir)
        if client_url.strip():
            cert, key = load_client_store(client_url, client_type, client_password, base_dir=base_dir)
        return cls(mode, ca, cert, key, low, high, source)

    def context(self) -> ssl.SSLContext:
        if self._context is None:
            raise ConfigError("sslMode DISABLED has no TLS context")
        return self._context

    def describe(self) -> str:
        """The mode and what the server certificate is checked against, for error messages."""
        if not self.verify:
            return f"sslMode={self.mode}"
        if self.ca_pem is None:
            return f"sslMode={self.mode}, CAs of the system store"
        return f"sslMode={self.mode}, CAs from {self.ca_source or 'the given PEM'}"

    def _make_context(self) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        if self.verify:
            ctx.verify_mode = ssl.CERT_REQUIRED
            ctx.check_hostname = self.mode == VERIFY_IDENTITY
            try:
                if self.ca_pem is not None:
                    ctx.load_verify_locations(cadata=self.ca_pem.decode("ascii"))
                else:
                    ctx.load_default_certs(ssl.Purpose.SERVER_AUTH)
            except (ssl.SSLError, ValueError) as exc:
                raise ConfigError(f"cannot use the CA certificates of {self.ca_source or 'the system'}: {exc}") from exc
        else:
            ctx.check_hostname = False  # PREFERRED and REQUIRED encrypt but do not check who answers
            ctx.verify_mode = ssl.CERT_NONE
        try:
            if self.min_version is not None:
                ctx.minimum_version = self.min_version
            if self.max_version is not None:
                ctx.maximum_version = self.max_version
        except ValueError as exc:
            raise ConfigError(f"this Python's OpenSSL cannot set the TLS versions: {exc}") from exc
        if self.cert_pem is not None and self.key_pem is not None:
            _load_client_cert(ctx, self.cert_pem, self.key_pem)
        return ctx


def _load_client_cert(ctx: ssl.SSLContext, cert_pem: bytes, key_pem: bytes) -> None:
    """``load_cert_chain`` reads files only: write the chain with the key encrypted under a one-time
    password into a private temp file, load it, delete it. No plaintext key reaches the disk."""
    from cryptography.hazmat.primitives import serialization

    once = secrets.token_hex(16)
    key = serialization.load_pem_private_key(key_pem, None)
    encrypted = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(once.encode()),
    )
    fd, path = tempfile.mkstemp(prefix="pycanal-client-", suffix=".pem")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(cert_pem + b"\n" + encrypted)
        ctx.load_cert_chain(path, password=once)
    except ssl.SSLError as exc:
        raise ConfigError(f"the client certificate and key do not fit together: {exc}") from exc
    finally:
        os.unlink(path)


# --------------------------------------------------------------------------------------------------
# Reading canal's key store settings


def parse_tls_versions(text: str) -> tuple[ssl.TLSVersion | None, ssl.TLSVersion | None]:
    """``tlsVersions`` (``TLSv1.2,TLSv1.3``) -> (lowest, highest) of the listed versions; empty -> no bounds.

    OpenSSL takes a range, not a set, so a list with a gap (TLSv1.1,TLSv1.3) also allows the version between.
    """
    versions = []
    for item in text.split(","):
        name = item.strip()
        if not name:
            continue
        found = {k.lower(): v for k, v in TLS_VERSIONS.items()}.get(name.lower())
        if found is None:
            raise ConfigError(f"{name!r} is not a TLS version; use {', '.join(TLS_VERSIONS)}")
        versions.append(found)
    if not versions:
        return None, None
    return min(versions), max(versions)


def store_path(location: str, base_dir: str) -> str:
    """The file a key store URL names: ``file:/abs``, ``file:///abs``, ``file:rel`` or a plain path.

    Relative paths resolve against ``base_dir`` (canal resolves them against its working directory).
    """
    loc = location.strip()
    if re.match(r"^[A-Za-z][A-Za-z0-9+.-]+:", loc) and not re.match(r"^[A-Za-z]:[\\/]", loc):
        url = urlparse(loc)
        if url.scheme.lower() != "file":
            raise ConfigError(
                f"{loc!r}: pycanal reads key stores from files only (a path or a file: URL), not {url.scheme}:"
            )
        if url.netloc not in ("", "localhost"):
            raise ConfigError(f"{loc!r}: a file: URL must name a local file")
        loc = unquote(url.path) if url.path else unquote(loc[len("file:") :])
    return os.path.normpath(os.path.join(base_dir, os.path.expanduser(loc)))


def _read_store(path: str, store_type: str) -> tuple[str, bytes]:
    """(PEM or PKCS12, file bytes). The file content decides (Java's JKS type reads PKCS12 too)."""
    declared = store_type.strip().upper().replace("#", "")
    if declared and declared not in STORE_TYPES:
        raise ConfigError(f"key store type {store_type!r} is not one of {', '.join(STORE_TYPES)}")
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as exc:
        raise ConfigError(f"cannot read the key store {path}: {exc.strerror or exc}") from exc
    if data[:4] in (_JKS_MAGIC, _JCEKS_MAGIC):
        kind = "JKS" if data[:4] == _JKS_MAGIC else "JCEKS"
        raise ConfigError(
            f"{path} is a Java {kind} key store, which pycanal cannot read. Convert it to PKCS12: "
            f"keytool -importkeystore -srckeystore {path} -srcstoretype {kind} -destkeystore {path}.p12 "
            "-deststoretype PKCS12, and point the setting at the .p12 file (or at PEM files exported "
            "with keytool -exportcert -rfc / openssl pkcs12 -nodes)"
        )
    if b"-----BEGIN " in data[:4096]:
        return "PEM", data
    if declared == "PEM":
        raise ConfigError(f"{path} is not a PEM file (no -----BEGIN line)")
    return "PKCS12", data


def _load_pkcs12(path: str, data: bytes, password: str) -> object:
    from cryptography.hazmat.primitives.serialization import pkcs12

    try:
        return pkcs12.load_pkcs12(data, password.encode("utf-8") if password else None)
    except (ValueError, TypeError) as exc:
        raise ConfigError(
            f"cannot open the PKCS12 key store {path}: wrong password, or not a PKCS12 file ({exc})"
        ) from exc


def _certs_pem(certs: Sequence[object]) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)  # type: ignore[attr-defined]


def load_trust_store(location: str, store_type: str = "", password: str = "", *, base_dir: str = ".") -> bytes:
    """The CA certificates of ``trustCertificateKeyStoreUrl`` as one PEM bundle."""
    from cryptography import x509

    path = store_path(location, base_dir)
    kind, data = _read_store(path, store_type)
    if kind == "PEM":
        try:
            certs = x509.load_pem_x509_certificates(data)
        except ValueError as exc:
            raise ConfigError(f"{path} holds no readable PEM certificate: {exc}") from exc
    else:
        p12 = _load_pkcs12(path, data, password)
        certs = [c.certificate for c in ([p12.cert] if p12.cert else []) + list(p12.additional_certs)]  # type: ignore[attr-defined]
        if not certs:
            raise ConfigError(f"the PKCS12 key store {path} holds no certificate")
    return _certs_pem(certs)


def load_client_store(
    location: str, store_type: str = "", password: str = "", *, base_dir: str = "."
) -> tuple[bytes, bytes]:
    """(certificate chain PEM, unencrypted private key PEM) of ``clientCertificateKeyStoreUrl``.

    A PEM client store holds the certificate and the key in one file (the key may be encrypted with
    the store password); a PKCS12 store holds both, as keytool makes it.
    """
    path = store_path(location, base_dir)
    kind, data = _read_store(path, store_type)
    if kind == "PEM":
        return _client_pem(data, path, data, path, password)
    p12 = _load_pkcs12(path, data, password)
    if p12.key is None or p12.cert is None:  # type: ignore[attr-defined]
        raise ConfigError(f"the PKCS12 key store {path} needs a private key with its certificate")
    chain = [p12.cert.certificate] + [c.certificate for c in p12.additional_certs]  # type: ignore[attr-defined]
    return _certs_pem(chain), _key_pem(p12.key)  # type: ignore[attr-defined]


def load_client_pem(cert_path: str, key_path: str | None = None, password: str = "") -> tuple[bytes, bytes]:
    """(certificate chain PEM, unencrypted key PEM) from a PEM certificate file and a key file (the key may
    be in the certificate file; ``password`` decrypts an encrypted key)."""
    cert_data = _read_file(cert_path)
    if key_path is None or key_path == cert_path:
        return _client_pem(cert_data, cert_path, cert_data, cert_path, password)
    return _client_pem(cert_data, cert_path, _read_file(key_path), key_path, password)


def _read_file(path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from exc


def _client_pem(cert_data: bytes, cert_path: str, key_data: bytes, key_path: str, password: str) -> tuple[bytes, bytes]:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    try:
        certs = x509.load_pem_x509_certificates(cert_data)
    except ValueError as exc:
        raise ConfigError(f"{cert_path} holds no readable PEM certificate: {exc}") from exc
    m = _PEM_KEY.search(key_data)
    if m is None:
        raise ConfigError(f"{key_path} holds no PEM private key for the client certificate")
    try:
        key = serialization.load_pem_private_key(m.group(0), password.encode("utf-8") if password else None)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"cannot read the private key in {key_path}: wrong password or damaged key ({exc})") from exc
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    ours = key.public_key().public_bytes(serialization.Encoding.DER, spki)
    if ours != certs[0].public_key().public_bytes(serialization.Encoding.DER, spki):
        raise ConfigError(f"the private key in {key_path} does not belong to the certificate in {cert_path}")
    return _certs_pem(certs), _key_pem(key)


def _key_pem(key: object) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return key.private_bytes(  # type: ignore[attr-defined]
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
