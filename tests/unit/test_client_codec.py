"""The canal client's wire side without sockets: the packets it builds (byte-exact against canal-spec.md
1.5/1.6), how it reads replies and errors, FlatMessage conversion of hand-built Entries with canal's quirks,
and the example-client print layout."""

from __future__ import annotations

import time

import pytest

from pycanal.client import Connector, Message, SimpleConnector, codec
from pycanal.client.printer import format_entry, format_summary
from pycanal.errors import (
    AuthenticationFailed,
    BatchNotFound,
    BatchOutOfOrder,
    CanalServerError,
    InstanceNotStarted,
    LocalProtocolError,
    NotSubscribed,
    RemoteProtocolError,
    UnackedBatch,
)
from pycanal.protocol import entry as pb
from pycanal.protocol import packet as cp
from pycanal.protocol.flat import KEYS, flat_messages, to_json
from pycanal.protocol.frames import error_packet, handshake_packet, parse_packet, raw_messages_packet

EXAMPLE = "0a07" + b"example".hex() + "1204" + b"1001".hex()


def packet_of(data: bytes) -> cp.Packet:
    return cp.Packet.FromString(data)


# ------------------------------------------------------------------------------------------------ requests


def test_get_packet_matches_the_spec_bytes():
    data = codec.get_packet("example", 1001, 1000, None, "ms")
    body = EXAMPLE + "18e807" + "20ffffffffffffffffff01" + "2802" + "3000"
    assert data.hex() == "1806" + "2a" + f"{len(body) // 2:02x}" + body  # type GET, no version, body


@pytest.mark.parametrize(
    ("batch_size", "timeout", "unit", "fetch", "wire_timeout", "wire_unit"),
    [
        (0, None, "ms", 1000, -1, 2),  # <= 0 asks for 1000; no timeout is -1
        (-5, -3, "s", 1000, -1, 3),  # a negative timeout is -1 too
        (7, 0, "SECONDS", 7, 0, 3),  # 0 is sent (the server then waits for a full batch)
        (5, 250, 1, 5, 250, 1),  # a Java TimeUnit ordinal
        (5, 2, "min", 5, 2, 4),
    ],
)
def test_get_defaults_like_the_java_client(batch_size, timeout, unit, fetch, wire_timeout, wire_unit):
    get = cp.Get.FromString(packet_of(codec.get_packet("d", 3, batch_size, timeout, unit)).body)
    assert (get.fetch_size, get.timeout, get.unit) == (fetch, wire_timeout, wire_unit)
    assert get.HasField("timeout") and get.HasField("unit") and get.HasField("auto_ack") and not get.auto_ack
    assert (get.destination, get.client_id) == ("d", "3")


def test_subscribe_ack_rollback_unsubscribe_bytes():
    sub = packet_of(codec.subscribe_packet("example", 1001, ".*\\..*"))
    assert (sub.type, sub.HasField("version")) == (cp.SUBSCRIPTION, False)
    assert sub.body.hex() == EXAMPLE + "3a06" + "2e2a5c2e2e2a"
    assert packet_of(codec.subscribe_packet("example", 1001, None)).body.hex() == EXAMPLE  # no filter field
    ack = packet_of(codec.ack_packet("example", 1001, 7))
    assert (ack.type, ack.body.hex()) == (cp.CLIENTACK, EXAMPLE + "1807")
    rb = packet_of(codec.rollback_packet("example", 1001, 0))
    assert (rb.type, rb.body.hex()) == (cp.CLIENTROLLBACK, EXAMPLE)  # batch 0 = all: field omitted
    unsub = packet_of(codec.unsubscribe_packet("example", 1001))
    assert (unsub.type, unsub.body.hex()) == (cp.UNSUBSCRIPTION, EXAMPLE)
    assert codec.probe_packet().hex() == "180b"  # type HEARTBEAT, nothing else


def test_scramble_vector_and_auth_packet():
    seed = bytes(range(1, 9))
    p = packet_of(codec.auth_packet("canal", "123456", seed, 3_600_000))
    assert (p.type, p.HasField("version")) == (cp.CLIENTAUTHENTICATION, False)
    auth = cp.ClientAuth.FromString(p.body)
    assert auth.username == "canal"
    assert auth.password == b"90e636eb4878fb59e80b3ee6412a784df5aae30d"
    assert (auth.net_read_timeout, auth.net_write_timeout) == (3_600_000, 3_600_000)
    assert not auth.destination and not auth.client_id and not auth.filter  # no auto-subscribe
    # canal's client scrambles even an empty password; only a missing one goes out empty
    assert len(cp.ClientAuth.FromString(packet_of(codec.auth_packet("", "", seed, 0)).body).password) == 40
    nothing = cp.ClientAuth.FromString(packet_of(codec.auth_packet(None, None, seed, 0)).body)
    assert (nothing.username, nothing.password, nothing.HasField("net_read_timeout")) == ("", b"", True)


@pytest.mark.parametrize(
    ("call", "fragment"),
    [
        (lambda: codec.get_packet("d", 1001, 2**31, None, "ms"), "batch_size"),
        (lambda: codec.get_packet("d", 1001, 10, 1.5, "s"), "whole number"),
        (lambda: codec.get_packet("d", 1001, 10, None, "fortnight"), "unknown time unit"),
        (lambda: codec.get_packet("d", 1001, 10, None, 7), "0..6"),
        (lambda: codec.subscribe_packet("d", 40000, ""), "16-bit"),
        (lambda: codec.ack_packet("d", 1001, 2**63), "64-bit"),
        (lambda: codec.auth_packet("u", "p", b"12345678", -1), "idle timeout"),
    ],
)
def test_bad_arguments_are_local_protocol_errors(call, fragment):
    with pytest.raises(LocalProtocolError, match=fragment):
        call()


def test_connector_rejects_bad_configuration():
    with pytest.raises(LocalProtocolError, match="destination"):
        SimpleConnector("127.0.0.1", 1, "")
    with pytest.raises(LocalProtocolError, match="16-bit"):
        SimpleConnector("127.0.0.1", 1, "d", client_id=70000)
    with pytest.raises(LocalProtocolError, match="host and port"):
        SimpleConnector(None, None, "d")
    c = SimpleConnector("127.0.0.1", 1, "d")
    assert isinstance(c, Connector) and c.client_id == 1001 and c.filter is None
    with pytest.raises(LocalProtocolError, match="connect"):
        c.get_without_ack(10)
    with pytest.raises(CanalServerError, match="batchId should assign value") as info:
        c.ack(0)
    assert info.value.code == 402
    assert not c.check_valid()


# ------------------------------------------------------------------------------------------------ replies


def test_handshake_checks_version_and_type():
    hs = handshake_packet(bytes(range(1, 9)))
    assert hs.hex() == "100118012a0a12080102030405060708"
    assert codec.parse_handshake(hs) == bytes(range(1, 9))
    no_version = cp.Packet(type=cp.HANDSHAKE, body=cp.Handshake(seeds=b"12345678").SerializeToString())
    with pytest.raises(RemoteProtocolError, match="unsupported version"):
        codec.parse_handshake(no_version.SerializeToString())
    with pytest.raises(RemoteProtocolError, match="expect handshake"):
        codec.parse_handshake(bytes.fromhex("10011803"))
    with pytest.raises(RemoteProtocolError, match="cannot parse"):
        codec.parse_handshake(b"\xff\xff")


def test_success_ack_and_error_ack():
    codec.check_ack(parse_packet(bytes.fromhex("10011803")), "subscribe")  # no error
    body = cp.Ack(error_code=400, error_message="auth failed for user:x").SerializeToString()
    assert body.hex() == "08900312" + "16" + b"auth failed for user:x".hex()
    with pytest.raises(AuthenticationFailed, match="auth failed for user:x") as info:
        codec.check_ack(parse_packet(error_packet(400, "auth failed for user:x")), "authentication")
    assert info.value.code == 400
    with pytest.raises(RemoteProtocolError, match="MESSAGES when the ack of subscribe"):
        codec.check_ack(parse_packet(raw_messages_packet(1, [])), "subscribe")


@pytest.mark.parametrize(
    ("code", "message", "cls"),
    [
        (400, "destination:example should start first", InstanceNotStarted),
        (
            400,
            "ClientIdentity:ClientIdentity[destination=example,clientId=1001,filter=<null>] should subscribe first",
            NotSubscribed,
        ),
        (400, "ack error , clientId:1001 batchId:9 is not exist , please check", BatchNotFound),
        (400, "batchId:3 is not the firstly:2", BatchOutOfOrder),
        (400, "clientId:1001 has last batch:[...] isn't ack , maybe loss data", UnackedBatch),
        (401, "destination or clientId is null. Get: ", CanalServerError),
        (400, "something goes wrong with channel:x exception=java.lang.NullPointerException", CanalServerError),
    ],
)
def test_error_packets_map_to_typed_errors(code, message, cls):
    with pytest.raises(CanalServerError) as info:
        codec.messages_of(parse_packet(error_packet(code, message)))
    assert type(info.value) is cls
    assert (info.value.code, info.value.message, str(info.value)) == (code, message, message)


def test_messages_replies():
    empty = codec.messages_of(parse_packet(bytes.fromhex("100118072a0b08ffffffffffffffffff01")))  # spec 1.7
    assert (empty.batch_id, empty.raw, empty.is_empty) == (-1, [], True)
    e = pb.Entry(header=pb.Header(logfileName="b.000001", logfileOffset=4), entryType=pb.ROWDATA)
    raw = codec.messages_of(parse_packet(raw_messages_packet(5, [e.SerializeToString()])))  # no version field
    assert (raw.batch_id, raw.entries) == (5, [e])
    zlib = cp.Packet(type=cp.MESSAGES, compression=cp.ZLIB, body=cp.Messages(batch_id=1).SerializeToString())
    with pytest.raises(RemoteProtocolError, match="compression"):
        codec.messages_of(zlib)
    with pytest.raises(RemoteProtocolError, match="unexpected packet type: HANDSHAKE"):
        codec.messages_of(parse_packet(handshake_packet(b"12345678")))
    with pytest.raises(RemoteProtocolError, match="success ACK"):
        codec.messages_of(parse_packet(bytes.fromhex("10011803")))
    probe_answer = parse_packet(error_packet(400, "packet type: HEARTBEAT is NOT supported!"))
    assert codec.is_probe_reply(probe_answer)
    assert not codec.is_probe_reply(parse_packet(error_packet(400, "destination:x should start first")))


def test_message_decodes_lazily_once():
    e = pb.Entry(header=pb.Header(logfileName="f", logfileOffset=9), entryType=pb.TRANSACTIONBEGIN)
    m = Message(3, raw=[e.SerializeToString()])
    assert m._entries is None
    first = m.entries
    assert first == [e] and m.entries is first
    assert Message(3, entries=[e]) == m and len(m) == 1
    with pytest.raises(RemoteProtocolError, match="entry 0"):
        _ = Message(4, raw=[b"\xff\xff\xff"]).entries


# ------------------------------------------------------------------------------------------------ FlatMessage


def col(index, name, value, *, key=False, updated=False, sql_type=4, mysql_type="int(11)"):
    c = pb.Column(index=index, name=name, isKey=key, updated=updated, sqlType=sql_type, mysqlType=mysql_type)
    if value is None:
        c.isNull = True
    else:
        c.value = value
    return c


def row_entry(event_type, rows, *, schema="db", table="t", execute_time=1_700_000_000_000, gtid=""):
    rc = pb.RowChange(tableId=1, eventType=event_type, isDdl=False)
    for before, after in rows:
        rc.rowDatas.add(beforeColumns=before, afterColumns=after)
    return pb.Entry(
        header=pb.Header(
            logfileName="mysql-bin.000001",
            logfileOffset=100,
            schemaName=schema,
            tableName=table,
            executeTime=execute_time,
            eventType=event_type,
            gtid=gtid,
            eventLength=50,
        ),
        entryType=pb.ROWDATA,
        storeValue=rc.SerializeToString(),
    )


def begin_end():
    begin = pb.Entry(
        header=pb.Header(logfileName="f", executeTime=1),
        entryType=pb.TRANSACTIONBEGIN,
        storeValue=pb.TransactionBegin(threadId=12).SerializeToString(),
    )
    end = pb.Entry(
        header=pb.Header(logfileName="f", executeTime=1),
        entryType=pb.TRANSACTIONEND,
        storeValue=pb.TransactionEnd(transactionId="77").SerializeToString(),
    )
    return begin, end


def test_flat_insert_keys_order_and_types():
    ins = row_entry(
        pb.INSERT,
        [
            (
                [],
                [
                    col(0, "id", "1", key=True, updated=True),
                    col(1, "name", "a", updated=True, sql_type=12, mysql_type="varchar(10)"),
                ],
            ),
            (
                [],
                [
                    col(0, "id", "2", key=True, updated=True),
                    col(1, "name", None, updated=True, sql_type=2005, mysql_type="varchar(10)"),
                ],
            ),
        ],
    )
    begin, end = begin_end()
    msgs = flat_messages([begin, ins.SerializeToString(), end], 9, clock=lambda: 1234.5)
    assert len(msgs) == 1  # BEGIN and END give no message
    m = msgs[0]
    assert list(m) == list(KEYS) == sorted(KEYS)
    assert m == {
        "data": [{"id": "1", "name": "a"}, {"id": "2", "name": None}],
        "database": "db",
        "es": 1_700_000_000_000,
        "gtid": "",
        "id": 9,
        "isDdl": False,
        "mysqlType": {"id": "int(11)", "name": "varchar(10)"},
        "old": None,
        "pkNames": ["id"],
        "sql": "",
        "sqlType": {"id": 4, "name": 2005},  # the last row decides the type
        "table": "t",
        "ts": 1234500,
        "type": "INSERT",
    }
    assert to_json(m).startswith('{"data":[{"id":"1","name":"a"},{"id":"2","name":null}],"database":"db"')


def test_flat_update_accumulates_old_and_takes_pk_names_from_the_first_row():
    upd = row_entry(
        pb.UPDATE,
        [
            (
                [col(0, "id", "1"), col(1, "a", "x"), col(2, "b", "p")],
                [col(0, "id", "1", key=True), col(1, "a", "y", updated=True), col(2, "b", "p")],
            ),
            (
                [col(0, "id", "2"), col(1, "a", "s"), col(2, "b", "q")],
                [col(0, "id", "2"), col(1, "a", "s"), col(2, "b", "r", updated=True)],
            ),  # no isKey here
            (
                [col(0, "id", "3"), col(1, "a", None), col(2, "b", "z")],
                [col(0, "id", "3"), col(1, "a", None), col(2, "b", "z")],
            ),  # nothing changed in this row
        ],
    )
    (m,) = flat_messages(Message(4, entries=[upd]))
    assert m["id"] == 4 and m["type"] == "UPDATE"
    assert m["pkNames"] == ["id"]
    assert m["data"] == [
        {"id": "1", "a": "y", "b": "p"},
        {"id": "2", "a": "s", "b": "r"},
        {"id": "3", "a": None, "b": "z"},
    ]
    # row 2 still lists "a" (changed in row 1), row 3 lists both although nothing changed in it
    assert m["old"] == [{"a": "x"}, {"a": "s", "b": "q"}, {"a": None, "b": "z"}]
    assert abs(m["ts"] - time.time() * 1000) < 60_000


def test_flat_update_with_no_changed_column_keeps_empty_old_rows():
    upd = row_entry(pb.UPDATE, [([col(0, "id", "1")], [col(0, "id", "1")])])
    (m,) = flat_messages([upd], 1)
    assert m["old"] == [{}] and m["pkNames"] is None


def test_flat_delete_reads_the_before_image_and_skips_empty_rows():
    dele = row_entry(
        pb.DELETE,
        [
            ([col(0, "id", "5", key=True)], []),
            ([], [col(0, "id", "6", key=True)]),  # no before columns: not a data row
        ],
    )
    (m,) = flat_messages([dele], 2)
    assert m["data"] == [{"id": "5"}] and m["old"] is None and m["pkNames"] == ["id"]


def test_flat_ddl_and_query_have_null_row_fields():
    rc = pb.RowChange(eventType=pb.ALTER, isDdl=True, sql="ALTER TABLE t ADD c INT", ddlSchemaName="db")
    ddl = pb.Entry(
        header=pb.Header(schemaName="db", tableName="t", executeTime=5, gtid="0-1-9"),
        entryType=pb.ROWDATA,
        storeValue=rc.SerializeToString(),
    )
    (m,) = flat_messages([ddl], 3, clock=lambda: 0.001)
    assert m == {
        "data": None,
        "database": "db",
        "es": 5,
        "gtid": "0-1-9",
        "id": 3,
        "isDdl": True,
        "mysqlType": None,
        "old": None,
        "pkNames": None,
        "sql": "ALTER TABLE t ADD c INT",
        "sqlType": None,
        "table": "t",
        "ts": 1,
        "type": "ALTER",
    }
    # a non-DDL, non-DML row change (XA COMMIT): no rows read, empty maps become null
    xa = pb.Entry(
        entryType=pb.ROWDATA,
        storeValue=pb.RowChange(
            eventType=pb.XACOMMIT, sql="XA COMMIT 'x'", rowDatas=[pb.RowData()]
        ).SerializeToString(),
    )
    (m,) = flat_messages([xa], 3)
    assert (m["type"], m["isDdl"], m["data"], m["sqlType"], m["old"]) == ("XACOMMIT", False, None, None, None)


def test_flat_errors():
    with pytest.raises(TypeError, match="batch_id"):
        flat_messages([])
    with pytest.raises(RemoteProtocolError, match="not a serialized canal Entry"):
        flat_messages([b"\xff\xff\xff"], 1)
    bad = pb.Entry(entryType=pb.ROWDATA, storeValue=b"\xff\xff\xff")
    with pytest.raises(RemoteProtocolError, match="no valid RowChange"):
        flat_messages([bad], 1)


# ------------------------------------------------------------------------------------------------ printer


def _local(ms: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ms // 1000))


def test_printer_rowdata_layout():
    t = 1_700_000_000_000
    upd = row_entry(
        pb.UPDATE,
        [
            (
                [col(0, "id", "1")],
                [
                    col(0, "id", "1", key=True),
                    col(1, "name", "b", updated=True, sql_type=12, mysql_type="varchar(10)"),
                    col(2, "pic", "\xe4\xbd\xa0", mysql_type="blob", sql_type=2004),
                ],
            ),
        ],
        execute_time=t,
        gtid="0-1-5",
    )
    text = format_entry(upd, now_ms=t + 250)
    assert text == (
        "\n----------------> binlog[mysql-bin.000001:100] , name[db,t] , eventType : UPDATE , "
        f"executeTime : {t}({_local(t)}) , gtid : (0-1-5) , delay : 250 ms\n\n"
        "id : 1    type=int(11)\n\n"
        "name : b    type=varchar(10)    update=true\n\n"
        "pic : \u4f60    type=blob\n\n"  # binary text (ISO-8859-1) shown as UTF-8, as the example does
    )
    dele = row_entry(pb.DELETE, [([col(0, "id", "7"), col(1, "v", None, mysql_type="text")], [])], execute_time=t)
    assert format_entry(dele.SerializeToString(), now_ms=t).endswith("id : 7    type=int(11)\n\nv :     type=text\n\n")


def test_printer_transaction_and_ddl_layout():
    t = 1_600_000_000_000
    begin = pb.Entry(
        header=pb.Header(logfileName="mysql-bin.000002", logfileOffset=4, executeTime=t),
        entryType=pb.TRANSACTIONBEGIN,
        storeValue=pb.TransactionBegin(
            threadId=42, props=[pb.Pair(key="XA_TYPE", value="XA START"), pb.Pair(key="XA_XID", value="'x1'")]
        ).SerializeToString(),
    )
    head = (
        f"\n================> binlog[mysql-bin.000002:4] , executeTime : {t}({_local(t)}) , gtid : () , delay : 5ms\n\n"
    )
    assert format_entry(begin, now_ms=t + 5) == head + " BEGIN ----> Thread id: 42\n ------> XA START 'x1'\n"
    end = pb.Entry(
        header=pb.Header(logfileName="mysql-bin.000002", logfileOffset=4, executeTime=t),
        entryType=pb.TRANSACTIONEND,
        storeValue=pb.TransactionEnd(transactionId="99").SerializeToString(),
    )
    assert format_entry(end, now_ms=t + 5) == "----------------\n\n END ----> transaction id: 99\n" + head
    rc = pb.RowChange(eventType=pb.CREATE, isDdl=True, sql="CREATE TABLE x (id int)")
    ddl = pb.Entry(
        header=pb.Header(logfileName="f", logfileOffset=1, schemaName="db", tableName="x", executeTime=t),
        entryType=pb.ROWDATA,
        storeValue=rc.SerializeToString(),
    )
    assert format_entry(ddl, now_ms=t).endswith(
        "eventType : CREATE , "
        f"executeTime : {t}({_local(t)}) , gtid : () , delay : 0 ms\n\n"
        "ddl : true ,  sql ----> CREATE TABLE x (id int)\n\n"
    )
    summary = format_summary(8, [begin, end], now_ms=t)
    lines = summary.split("\n")
    assert lines[1] == "*" * 52
    assert lines[2] == f"* Batch Id: [8] ,count : [2] , memsize : [0] , Time : {_local(t)}"
    assert lines[3] == f"* Start : [mysql-bin.000002:4:{t}({_local(t)})] "
    assert lines[4:] == [f"* End : [mysql-bin.000002:4:{t}({_local(t)})] ", "*" * 52, "", ""]
