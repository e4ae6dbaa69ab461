"""One get batch -> the broker messages canal's RabbitMQ producer publishes (canal-spec.md 8.1, 8.2): the
FlatMessage JSON of the existing converter, canal's raw and non-raw protobuf packets, dynamic-topic routing
of rows and DDL, and the order kept within a topic."""

from __future__ import annotations

import json

from pycanal.client.codec import messages_of
from pycanal.mq.messages import build_messages
from pycanal.mq.routing import DynamicTopic
from pycanal.protocol import entry as pb
from pycanal.protocol import packet as cp
from pycanal.protocol.flat import flat_message, to_json
from pycanal.protocol.frames import raw_messages_packet


def rows(schema: str, table: str, *ids: str, event_type: int = pb.INSERT) -> bytes:
    rc = pb.RowChange(eventType=event_type)
    for i in ids:
        rc.rowDatas.add(afterColumns=[pb.Column(index=0, name="id", value=i, isKey=True, sqlType=4, mysqlType="int")])
    return pb.Entry(
        header=pb.Header(schemaName=schema, tableName=table, eventType=event_type, executeTime=1000),
        entryType=pb.ROWDATA,
        storeValue=rc.SerializeToString(),
    ).SerializeToString()


def ddl(schema: str, table: str, sql: str) -> bytes:
    rc = pb.RowChange(eventType=pb.ALTER, isDdl=True, sql=sql, ddlSchemaName=schema)
    return pb.Entry(
        header=pb.Header(schemaName=schema, tableName=table, eventType=pb.ALTER),
        entryType=pb.ROWDATA,
        storeValue=rc.SerializeToString(),
    ).SerializeToString()


BEGIN = pb.Entry(entryType=pb.TRANSACTIONBEGIN).SerializeToString()
END = pb.Entry(entryType=pb.TRANSACTIONEND).SerializeToString()


def clock() -> float:
    return 1700000000.123


def test_flat_messages_are_the_existing_converters_json():
    batch = [BEGIN, rows("shop", "orders", "1", "2"), END, BEGIN, rows("shop", "items", "3"), END]
    out = build_messages(7, batch, topic="example", clock=clock)
    assert [(m.topic, m.routing_key) for m in out] == [("example", "example")] * 2  # BEGIN/END: no message
    expected = [to_json(flat_message(pb.Entry.FromString(batch[i]), 7, ts=1700000000123)) for i in (1, 4)]
    assert [m.body.decode("utf-8") for m in out] == expected
    first = json.loads(out[0].body)
    assert first["id"] == 7 and first["data"] == [{"id": "1"}, {"id": "2"}] and first["old"] is None


def test_static_topic_routing_key_is_the_topic_as_written():
    (m,) = build_messages(1, [rows("a", "b", "1")], topic="canal.example")
    assert m.routing_key == "canal.example"


def test_dynamic_topic_routes_rows_and_ddl_by_their_table_in_order():
    rules = DynamicTopic.parse("mytest1.user,topic2:mytest2\\..*,.*\\..*")
    batch = [
        BEGIN,
        rows("mytest1", "user", "1"),
        rows("mytest2", "t", "2"),
        ddl("mytest1", "user", "ALTER TABLE user ADD c INT"),  # DDL naming a table: that table's topic
        rows("mytest1", "user", "3"),
        END,
    ]
    out = build_messages(5, batch, topic="example", dynamic_topic=rules)
    assert [(m.topic, m.routing_key) for m in out] == [
        ("mytest1.user", "mytest1_user"),
        ("topic2", "topic2"),
        ("mytest1.user", "mytest1_user"),
        ("mytest1.user", "mytest1_user"),
    ]
    assert [json.loads(m.body)["type"] for m in out] == ["INSERT", "INSERT", "ALTER", "INSERT"]


def test_protobuf_batch_is_canals_raw_messages_packet():
    batch = [BEGIN, rows("shop", "orders", "1"), END]
    (m,) = build_messages(9, batch, topic="example", flat=False)
    assert m.body == raw_messages_packet(9, batch)
    assert m.body[:3] == b"\x18\x07\x2a"  # type MESSAGES then the body: no version field, as canal writes it
    decoded = messages_of(cp.Packet.FromString(m.body))
    assert decoded.batch_id == 9 and decoded.raw == batch  # BEGIN/END kept on the raw path


def test_protobuf_dynamic_topic_packets_per_topic():
    rules = DynamicTopic.parse("mytest1.user,.*\\..*")
    batch = [BEGIN, rows("mytest1", "user", "1"), rows("b", "t", "2"), rows("mytest1", "user", "3"), END]
    out = build_messages(4, batch, topic="example", dynamic_topic=rules, flat=False)
    assert [m.routing_key for m in out] == ["mytest1_user", "b_t"]
    packet = cp.Packet.FromString(out[0].body)
    assert (packet.version, packet.type) == (1, cp.MESSAGES)
    body = cp.Messages.FromString(packet.body)
    assert body.batch_id == 0  # canal sets none on this path
    assert list(body.messages) == [batch[1], batch[3]]  # BEGIN/END dropped, order kept
