"""TLS to a real MariaDB with require_secure_transport=ON: each sslMode, certificates, and proof from the
server's side that the replication socket itself is encrypted."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from helpers import wait_for
from pycanal.errors import AccessDeniedError, ConnectionLostError, PrivilegeError, TlsError
from pycanal.mysql.connection import MySQLConnection
from pycanal.mysql.meta import MetaConnection
from pycanal.mysql.replication import ReplicationConnection
from pycanal.mysql.tls import TlsSettings, load_client_pem, load_trust_store
from pycanal.sandbox.mariadb import MariaDBSandbox
from pycanal.sandbox.pki import make_test_pki

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

WRITE_ROWS_V1, XID = 23, 16
REQUIRED = TlsSettings("REQUIRED")


@pytest.fixture(scope="module")
def secure() -> Iterator[MariaDBSandbox]:
    """MariaDB serving TLS with its own CA and refusing plaintext TCP logins; performance_schema on, to
    read each session's cipher from the server's side."""
    with MariaDBSandbox(tls=True, require_secure_transport=True, extra={"performance_schema": "ON"}) as s:
        s.execute(
            "CREATE DATABASE d",
            "CREATE TABLE d.t (id INT PRIMARY KEY, v LONGTEXT)",
            "CREATE USER x509 IDENTIFIED BY 'x509' REQUIRE X509",
            "GRANT SELECT, REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO x509",
        )
        yield s


_ids = iter(range(5000, 100000))


def repl(s: MariaDBSandbox, tls: TlsSettings | None, **kw: object) -> ReplicationConnection:
    return ReplicationConnection(s.host, s.port, s.user, s.password, next(_ids), tls=tls, **kw)  # type: ignore[arg-type]


def server_cipher(s: MariaDBSandbox, connection_id: int) -> str | None:
    """The cipher the *server* reports for one session (performance_schema.status_by_thread)."""
    rows = s.execute(
        "SELECT s.VARIABLE_VALUE FROM performance_schema.status_by_thread s "
        "JOIN performance_schema.threads t USING (THREAD_ID) "
        f"WHERE t.PROCESSLIST_ID = {connection_id} AND s.VARIABLE_NAME = 'Ssl_cipher'"
    )
    return rows[0][0] if rows else None


def test_required_streams_encrypted(secure: MariaDBSandbox) -> None:
    r = repl(secure, REQUIRED)
    conn = r.connection
    conn.connect()
    # the session that is about to dump, asked before the dump starts
    assert conn.query("SHOW STATUS LIKE 'Ssl_cipher'") == [("Ssl_cipher", conn.cipher)]
    assert conn.cipher and conn.tls_version in ("TLSv1.2", "TLSv1.3")
    with r:  # connect() goes on with the same session: prelude, register, dump
        assert r.read_event() is not None
        cid = conn.connection_id
        cipher = server_cipher(secure, cid)
        assert cipher == conn.cipher  # the Binlog Dump thread's own socket is encrypted
        command = secure.execute(f"SELECT COMMAND FROM information_schema.PROCESSLIST WHERE ID = {cid}")
        assert command == [("Binlog Dump",)]
        big = "x" * 3_000_000  # a 3 MB event: many TLS records, the framer's growth path
        secure.execute(f"INSERT INTO d.t VALUES (1, '{big}')")
        sizes = []
        while (ev := r.read_event()) is not None and ev[4] != XID:
            sizes.append((ev[4], len(ev)))
        assert any(t == WRITE_ROWS_V1 and n > 3_000_000 for t, n in sizes)
        print(f"replication session cipher: {cipher} ({conn.tls_version})")


def test_metadata_connection_is_encrypted(secure: MariaDBSandbox) -> None:
    with MetaConnection(secure.host, secure.port, secure.user, secure.password, tls=REQUIRED) as m:
        [(name, cipher)] = m.query("SHOW STATUS LIKE 'Ssl_cipher'")
        assert name == "Ssl_cipher" and cipher and cipher == m.cipher
        assert m.query("SELECT %s", ("ok",)) == [("ok",)]


@pytest.mark.parametrize("how", ["connection", "replication", "metadata"])
def test_disabled_against_a_server_that_requires_tls(secure: MariaDBSandbox, how: str) -> None:
    # MariaDB answers the plaintext login with 1045, as for a wrong password; pycanal tells them apart
    with pytest.raises(TlsError) as info:
        if how == "connection":
            MySQLConnection(secure.host, secure.port, secure.user, secure.password).connect()
        elif how == "replication":
            repl(secure, None).connect()
        else:
            MetaConnection(secure.host, secure.port, secure.user, secure.password).query("SELECT 1")
    text = str(info.value)
    assert "requires TLS" in text and "sslMode" in text
    assert "REPLICATION SLAVE" not in text and not isinstance(info.value, PrivilegeError)
    assert isinstance(info.value.__cause__, AccessDeniedError)
    # a wrong password stays a wrong password, whatever the transport
    with pytest.raises(AccessDeniedError, match="refused user 'canal' with this password"):
        MySQLConnection(secure.host, secure.port, "canal", "wrong").connect()
    with pytest.raises(AccessDeniedError, match="refused user 'canal' with this password"):
        MySQLConnection(secure.host, secure.port, "canal", "wrong", tls=REQUIRED).connect()


def test_required_against_a_server_without_tls_refuses(mariadb: MariaDBSandbox) -> None:
    for tls in (REQUIRED, TlsSettings("VERIFY_CA"), TlsSettings("VERIFY_IDENTITY")):
        with pytest.raises(TlsError, match="offers no TLS"):
            repl(mariadb, tls).connect()
        with pytest.raises(TlsError, match="offers no TLS"):
            MetaConnection(mariadb.host, mariadb.port, mariadb.user, mariadb.password, tls=tls).query("SELECT 1")
    with MySQLConnection(mariadb.host, mariadb.port, mariadb.user, mariadb.password, tls=TlsSettings("PREFERRED")) as c:
        assert c.cipher is None and c.query("SELECT 1") == [("1",)]  # PREFERRED: plaintext is fine


def test_preferred_uses_tls_when_offered(secure: MariaDBSandbox) -> None:
    with MySQLConnection(secure.host, secure.port, secure.user, secure.password, tls=TlsSettings("PREFERRED")) as c:
        assert c.cipher and server_cipher(secure, c.connection_id) == c.cipher


def test_verify_ca(secure: MariaDBSandbox, tmp_path) -> None:  # type: ignore[no-untyped-def]
    assert secure.pki is not None
    right = TlsSettings("VERIFY_CA", load_trust_store(secure.pki.ca_cert), ca_source=secure.pki.ca_cert)
    with MySQLConnection(secure.host, secure.port, secure.user, secure.password, tls=right) as c:
        assert c.cipher
    other = make_test_pki(str(tmp_path / "other"), ca_name="some other CA")
    wrong = TlsSettings("VERIFY_CA", load_trust_store(other.ca_cert), ca_source=other.ca_cert)
    for attempt in (
        lambda: MySQLConnection(secure.host, secure.port, secure.user, secure.password, tls=wrong).connect(),
        lambda: repl(secure, wrong).connect(),
    ):
        with pytest.raises(TlsError) as info:
            attempt()
        text = str(info.value)
        assert "failed verification" in text and "VERIFY_CA" in text and other.ca_cert in text
        assert "certificate" in text


def test_verify_identity_checks_the_host_name(secure: MariaDBSandbox) -> None:
    assert secure.pki is not None
    tls = TlsSettings("VERIFY_IDENTITY", load_trust_store(secure.pki.ca_cert), ca_source=secure.pki.ca_cert)
    with MySQLConnection("127.0.0.1", secure.port, secure.user, secure.password, tls=tls) as c:  # in the cert
        assert c.cipher
    with pytest.raises(TlsError, match="not valid for 'localhost'"):  # localhost is not in the cert
        MySQLConnection("localhost", secure.port, secure.user, secure.password, tls=tls).connect()
    verify_ca = TlsSettings("VERIFY_CA", tls.ca_pem)
    with MySQLConnection("localhost", secure.port, secure.user, secure.password, tls=verify_ca) as c:
        assert c.cipher  # VERIFY_CA checks the chain only


def test_client_certificate(secure: MariaDBSandbox) -> None:
    pki = secure.pki
    assert pki is not None
    with pytest.raises(AccessDeniedError):  # REQUIRE X509 and no certificate
        MySQLConnection(secure.host, secure.port, "x509", "x509", tls=REQUIRED).connect()
    cert, key = load_client_pem(pki.client_cert, pki.client_key)
    with MySQLConnection(secure.host, secure.port, "x509", "x509", tls=TlsSettings("REQUIRED", None, cert, key)) as c:
        assert c.query("SELECT CURRENT_USER()") == [("x509@%",)]
    from_p12 = TlsSettings.from_key_stores(
        "VERIFY_IDENTITY",
        trust_url=pki.ca_p12,
        trust_password=pki.client_p12_password,
        client_url=f"file:{pki.client_p12}",
        client_type="PKCS12",
        client_password=pki.client_p12_password,
    )
    r = ReplicationConnection(secure.host, secure.port, "x509", "x509", next(_ids), tls=from_p12, stop_at_end=True)
    with r:
        assert r.connection.cipher and list(r)


def test_tls_versions_bound_the_handshake(secure: MariaDBSandbox) -> None:
    import ssl

    tls12 = TlsSettings("REQUIRED", max_version=ssl.TLSVersion.TLSv1_2)
    with MySQLConnection(secure.host, secure.port, secure.user, secure.password, tls=tls12) as c:
        assert c.tls_version == "TLSv1.2"


def test_abort_from_another_thread_and_read_timeout_over_tls(secure: MariaDBSandbox) -> None:
    r = repl(secure, REQUIRED)
    r.connect()
    events: list[bytes] = []
    failures: list[BaseException] = []

    def read() -> None:
        try:
            while (ev := r.read_event()) is not None:
                events.append(ev)
        except BaseException as exc:
            failures.append(exc)

    reader = threading.Thread(target=read)
    reader.start()
    wait_for(lambda: len(events) >= 2, 5)  # ROTATE, FORMAT_DESCRIPTION; then it blocks: nothing is written
    time.sleep(0.3)
    assert reader.is_alive()
    started = time.monotonic()
    r.close()  # shuts the TLS socket down under the blocked reader
    reader.join(5)
    assert not reader.is_alive() and not failures  # the reader saw a clean end, not an error
    assert time.monotonic() - started < 2
    silent = repl(secure, REQUIRED, heartbeat_period=0, read_timeout=0.5)
    silent.connect()
    started = time.monotonic()
    with pytest.raises(ConnectionLostError, match="read timeout"):
        while silent.read_event() is not None:
            pass
    assert 0.4 < time.monotonic() - started < 5
    wait_for(lambda: not silent.connection.connected, 2)


# --------------------------------------------------------------------------------------------------
# the whole instance and the CLI: every connection they make honours the settings


def test_instance_with_ssl_mode(secure: MariaDBSandbox, tmp_path, caplog) -> None:  # type: ignore[no-untyped-def]
    from instance_helpers import drain, make_instance, write_conf
    from pycanal.model import ClientIdentity
    from pycanal.server.embedded import CanalServerWithEmbedded

    assert secure.pki is not None
    secure.execute("CREATE DATABASE IF NOT EXISTS i", "CREATE TABLE IF NOT EXISTS i.t (id INT PRIMARY KEY)")
    file, pos = secure.master_status()
    conf = write_conf(
        tmp_path,
        secure.port,
        canal__instance__master__journal__name=file,
        canal__instance__master__position=str(pos),
        canal__instance__filter__regex="i\\\\..*",
        canal__instance__tsdb__enable="true",  # the schema history's snapshot queries go over TLS too
        canal__instance__master__sslMode="VERIFY_CA",
        canal__instance__master__trustCertificateKeyStoreUrl=f"file:{secure.pki.ca_p12}",
        canal__instance__master__trustCertificateKeyStorePassword=secure.pki.client_p12_password,
    )
    inst = make_instance(conf)
    server = CanalServerWithEmbedded()
    server.register(inst)
    inst.start()
    try:
        ident = ClientIdentity("example", 1001)
        server.subscribe(ident)
        secure.execute(*(f"INSERT INTO i.t VALUES ({n})" for n in range(5)))
        rows = drain(server, ident, 5)
        assert [r[3]["id"] for r in rows] == [str(n) for n in range(5)] and inst.error is None
        assert "cannot check" not in caplog.text  # the binlog format check ran, over TLS
    finally:
        inst.stop()
    # the same instance without sslMode stops with the TLS advice, not with a privilege one
    plain = make_instance(write_conf(tmp_path / "plain", secure.port))
    try:
        plain.start()
        # a server keeps retrying (the configuration or the server may be fixed meanwhile), saying why
        err = wait_for(lambda: plain.parser.last_error if plain.parser else None, 20)
        assert isinstance(err, TlsError) and plain.state.startswith("retrying: ") and plain.error is None
        line = wait_for(lambda: [r.getMessage() for r in caplog.records if "no TLS connection" in r.getMessage()], 5)
        assert "requires TLS" in line[0] and "sslMode" in line[0] and "grant" not in line[0].lower()
    finally:
        plain.stop()


def test_dump_command_options(secure: MariaDBSandbox, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import json
    import os
    import subprocess
    import sys

    assert secure.pki is not None
    pycanal = os.path.join(os.path.dirname(sys.executable), "pycanal")
    start = secure.master_status()
    secure.execute("CREATE DATABASE IF NOT EXISTS c", "CREATE TABLE IF NOT EXISTS c.t (id INT PRIMARY KEY)")
    secure.execute("INSERT INTO c.t VALUES (1)")
    base = [pycanal, "dump", "--port", str(secure.port), "--start", f"{start[0]}:{start[1]}", "--stop-at-end"]
    tls = ["--ssl-mode", "verify_identity", "--ssl-ca", secure.pki.ca_cert]
    res = subprocess.run([*base, *tls], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    msgs = [json.loads(line) for line in res.stdout.splitlines()]
    assert [(m["type"], m["table"]) for m in msgs if m["table"] == "t"] == [("CREATE", "t"), ("INSERT", "t")]
    res = subprocess.run(base, capture_output=True, text=True, timeout=60)  # --ssl-mode DISABLED
    assert res.returncode == 1 and "requires TLS" in res.stderr and "sslMode" in res.stderr, res.stderr
    jks = tmp_path / "ca.jks"
    jks.write_bytes(b"\xfe\xed\xfe\xed" + bytes(40))
    res = subprocess.run([*base, "--ssl-mode", "VERIFY_CA", "--ssl-ca", str(jks)], capture_output=True, text=True)
    assert res.returncode == 1 and "keytool -importkeystore" in res.stderr, res.stderr
