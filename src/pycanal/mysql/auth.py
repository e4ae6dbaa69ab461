"""Authentication plugins for the MySQL handshake, sans-IO.

Supported: ``mysql_native_password``, MariaDB's ``client_ed25519`` and ``caching_sha2_password`` (fast
auth; full auth over a plain connection by asking the server for its RSA public key, 0x02, and over TLS
by sending the password, as the server then expects). ``mysql_clear_password`` and pre-4.1 passwords are
out of scope and refused with :class:`AccessDeniedError` (client errno 2059) rather than sent.
Each plugin's scramble is cut from the server's auth data by its length (:func:`plugin_scramble`).

:class:`AuthExchange` is the state machine the connection drives: ``initial_response()`` goes into the
handshake response, then every server packet goes to ``receive()``, which returns bytes to send (or
``None``) until ``done``. Imports: pycanal.errors, pycanal.mysql.{constants,packet}, hashlib, PyNaCl's
low-level bindings (ed25519) and ``cryptography`` (RSA-OAEP, imported only when needed).
"""

from __future__ import annotations

import hashlib

from ..errors import AccessDeniedError, RemoteProtocolError
from . import constants as C
from .packet import OkPacket, parse_auth_switch, parse_err, parse_ok, plugin_scramble

NATIVE = "mysql_native_password"
CACHING_SHA2 = "caching_sha2_password"
ED25519 = "client_ed25519"
SUPPORTED_PLUGINS = (NATIVE, CACHING_SHA2, ED25519)

# caching_sha2_password AuthMoreData codes
_FAST_AUTH_OK = 3
_FULL_AUTH_NEEDED = 4
_REQUEST_PUBLIC_KEY = b"\x02"


def _xor(a: bytes, b: bytes) -> bytes:
    return bytes(x ^ y for x, y in zip(a, b, strict=True))


def scramble_native(password: bytes, scramble: bytes) -> bytes:
    """mysql_native_password: SHA1(pw) XOR SHA1(scramble + SHA1(SHA1(pw))); empty password -> b""."""
    if not password:
        return b""
    stage1 = hashlib.sha1(password).digest()
    stage2 = hashlib.sha1(stage1).digest()
    return _xor(stage1, hashlib.sha1(scramble[:20] + stage2).digest())


def scramble_caching_sha2(password: bytes, scramble: bytes) -> bytes:
    """caching_sha2_password fast auth: SHA256(pw) XOR SHA256(SHA256(SHA256(pw)) + scramble).

    There is no MySQL 8 server on the test machines, so the unit test checks this against a vector
    computed from the algorithm as MySQL documents it (sha2_password.cc ``generate_scramble``) and
    against PyMySQL's independent implementation, not against a live server.
    """
    if not password:
        return b""
    stage1 = hashlib.sha256(password).digest()
    stage2 = hashlib.sha256(stage1).digest()
    return _xor(stage1, hashlib.sha256(stage2 + scramble[:20]).digest())


def _ed25519_secret(password: bytes) -> tuple[bytes, bytes, bytes]:
    """(clamped secret scalar a, a mod L, nonce prefix) from SHA-512 of the password."""
    az = hashlib.sha512(password).digest()
    a = bytearray(az[:32])
    a[0] &= 248
    a[31] &= 63
    a[31] |= 64
    from nacl.bindings import crypto_core_ed25519_scalar_reduce

    return bytes(a), crypto_core_ed25519_scalar_reduce(bytes(a) + bytes(32)), az[32:]


def ed25519_public_key(password: bytes) -> bytes:
    """The 32-byte public key MariaDB stores for ``PASSWORD('pw')`` under auth_ed25519 (base64 there)."""
    from nacl.bindings import crypto_scalarmult_ed25519_base_noclamp

    a, _, _ = _ed25519_secret(password)
    return crypto_scalarmult_ed25519_base_noclamp(a)


def sign_ed25519(password: bytes, message: bytes) -> bytes:
    """MariaDB client_ed25519: an ed25519 signature of the server's 32-byte scramble.

    MariaDB's ref10 ``crypto_sign`` takes the *password* (any length) where ed25519 takes a 32-byte
    seed: az = SHA-512(password), a = clamp(az[:32]), r = SHA-512(az[32:] + m) mod L, R = rB,
    S = (r + SHA-512(R + A + m) * a) mod L. For a 32-byte password this is plain ed25519.
    """
    from nacl.bindings import (
        crypto_core_ed25519_scalar_add,
        crypto_core_ed25519_scalar_mul,
        crypto_core_ed25519_scalar_reduce,
        crypto_scalarmult_ed25519_base_noclamp,
    )

    a, a_reduced, prefix = _ed25519_secret(password)
    public = crypto_scalarmult_ed25519_base_noclamp(a)
    r = crypto_core_ed25519_scalar_reduce(hashlib.sha512(prefix + message).digest())
    big_r = crypto_scalarmult_ed25519_base_noclamp(r)
    k = crypto_core_ed25519_scalar_reduce(hashlib.sha512(big_r + public + message).digest())
    s = crypto_core_ed25519_scalar_add(crypto_core_ed25519_scalar_mul(k, a_reduced), r)
    return big_r + s


def rsa_encrypt_password(password: bytes, scramble: bytes, public_key_pem: bytes) -> bytes:
    """caching_sha2 full auth without TLS: RSA-OAEP(SHA-1) of (password + NUL) XOR scramble (repeated)."""
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    try:
        key = serialization.load_pem_public_key(public_key_pem)
    except ValueError as exc:
        raise RemoteProtocolError(f"server sent an unreadable RSA public key: {exc}") from exc
    if not isinstance(key, rsa.RSAPublicKey):
        raise RemoteProtocolError("server's public key is not an RSA key")
    plain = password + b"\0"
    nonce = scramble[:20]
    if not nonce:
        raise RemoteProtocolError("no scramble to mix into the RSA-encrypted password")
    mixed = bytes(b ^ nonce[i % len(nonce)] for i, b in enumerate(plain))
    oaep = padding.OAEP(mgf=padding.MGF1(algorithm=hashes.SHA1()), algorithm=hashes.SHA1(), label=None)
    return key.encrypt(mixed, oaep)


def _unsupported(plugin: str) -> AccessDeniedError:
    return AccessDeniedError(
        C.CR_AUTH_PLUGIN_CANNOT_LOAD,
        "HY000",
        f"authentication plugin {plugin!r} is not supported by pycanal (supported: {', '.join(SUPPORTED_PLUGINS)})",
    )


class AuthExchange:
    """The authentication phase after the server's handshake, as a state machine over payloads."""

    def __init__(self, password: str | bytes, plugin: str, auth_data: bytes, *, secure: bool = False) -> None:
        """``auth_data``: the handshake's auth-plugin-data as sent; ``secure``: the session runs over TLS."""
        self.password = password.encode("utf-8") if isinstance(password, str) else password
        # A plugin we cannot start with (ed25519 needs a 32-byte scramble the handshake lacks, or an
        # unknown default) is answered with native; the server then sends an auth switch request.
        if plugin in (NATIVE, CACHING_SHA2):
            self.plugin, self.scramble = plugin, plugin_scramble(plugin, auth_data)
        else:
            self.plugin, self.scramble = NATIVE, auth_data[:20]
        self.secure = secure
        self.done = False
        self.ok: OkPacket | None = None
        self._awaiting_key = False

    def _response(self, plugin: str, scramble: bytes) -> bytes:
        if plugin == NATIVE:
            return scramble_native(self.password, scramble)
        if plugin == CACHING_SHA2:
            return scramble_caching_sha2(self.password, scramble)
        if plugin == ED25519:
            if len(scramble) != 32:
                raise RemoteProtocolError(f"client_ed25519 expects a 32-byte scramble, got {len(scramble)}")
            return sign_ed25519(self.password, scramble)
        raise _unsupported(plugin)

    def initial_response(self) -> bytes:
        """Auth data for the handshake response (for ``self.plugin``)."""
        return self._response(self.plugin, self.scramble)

    def receive(self, payload: bytes) -> bytes | None:
        """Handle one server packet: bytes to send back, or ``None`` (then read again unless ``done``)."""
        if not payload:
            raise RemoteProtocolError("empty packet during authentication")
        first = payload[0]
        if first == C.OK:
            self.ok = parse_ok(payload)
            self.done = True
            return None
        if first == C.ERR:
            raise parse_err(payload)
        if first == C.AUTH_SWITCH:
            plugin, data = parse_auth_switch(payload)
            self.plugin, self.scramble, self._awaiting_key = plugin, plugin_scramble(plugin, data), False
            return self._response(plugin, data)
        if first == C.AUTH_MORE_DATA:
            return self._more_data(payload[1:])
        raise RemoteProtocolError(f"unexpected packet 0x{first:02x} during authentication")

    def _more_data(self, data: bytes) -> bytes | None:
        if self.plugin != CACHING_SHA2:
            raise RemoteProtocolError(f"unexpected AuthMoreData for plugin {self.plugin!r}")
        if self._awaiting_key:
            self._awaiting_key = False
            return rsa_encrypt_password(self.password, self.scramble, data)
        if data[:1] == bytes((_FAST_AUTH_OK,)):
            return None  # the OK packet follows
        if data[:1] == bytes((_FULL_AUTH_NEEDED,)):
            if self.secure:  # over TLS the server reads the password itself (NUL-terminated)
                return self.password + b"\0"
            self._awaiting_key = True
            return _REQUEST_PUBLIC_KEY
        raise RemoteProtocolError(f"unexpected caching_sha2_password data {data[:8]!r}")
