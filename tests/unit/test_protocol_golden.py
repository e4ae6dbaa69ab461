"""Golden bytes from canal-spec.md sections 1.6 and 4.1: our protobuf and JSON are canal's, byte for byte."""

from __future__ import annotations

from pycanal.model import ClientIdentity, EntryPosition, LogIdentity, LogPosition
from pycanal.protocol import entry, packet


def test_handshake_and_ack_packets():
    hs = packet.Handshake(seeds=bytes(range(1, 9)))
    assert hs.SerializeToString().hex() == "12080102030405060708"
    p = packet.Packet(version=1, type=packet.HANDSHAKE, body=hs.SerializeToString())
    assert p.SerializeToString().hex() == "100118012a0a12080102030405060708"
    assert packet.Packet(version=1, type=packet.ACK).SerializeToString().hex() == "10011803"


def test_get_sub_clientack_messages_bodies():
    get = packet.Get(destination="example", client_id="1001", fetch_size=1000, timeout=-1, unit=2, auto_ack=False)
    assert get.SerializeToString().hex() == ("0a076578616d706c6512043130303118e80720ffffffffffffffffff0128023000")
    sub = packet.Sub(destination="example", client_id="1001", filter=".*\\..*")
    assert sub.SerializeToString().hex() == "0a076578616d706c651204313030313a062e2a5c2e2e2a"
    ack = packet.ClientAck(destination="example", client_id="1001", batch_id=7)
    assert ack.SerializeToString().hex() == "0a076578616d706c651204313030311807"
    assert packet.Messages(batch_id=-1).SerializeToString().hex() == "08ffffffffffffffffff01"


def test_error_ack_body():
    body = packet.Ack(error_code=400, error_message="auth failed for user:x").SerializeToString()
    assert body[:3].hex() == "089003" and body[3] == 0x12 and body[5:] == b"auth failed for user:x"


def test_entry_presence_fields_survive_zero_values():
    e = entry.Entry(entryType=entry.TRANSACTIONBEGIN, header=entry.Header(version=1, sourceType=entry.MYSQL))
    back = entry.Entry.FromString(e.SerializeToString())
    assert back.HasField("entryType") and back.header.HasField("version")
    col = entry.Column(isNull=False)
    assert entry.Column.FromString(col.SerializeToString()).HasField("isNull")


def test_log_position_json_as_canal_writes_it():
    pos = LogPosition(
        LogIdentity("dbaddress", 3306),
        EntryPosition("mysql-bin.033017", 162831532, 12136, 1675914626000, gtid=""),
    )
    assert pos.dumps(with_type=True) == (
        '{"@type":"com.alibaba.otter.canal.protocol.position.LogPosition","identity":{"slaveId":-1,'
        '"sourceAddress":{"address":"dbaddress","port":3306}},"postion":{"gtid":"","included":false,'
        '"journalName":"mysql-bin.033017","position":162831532,"serverId":12136,"timestamp":1675914626000}}'
    )
    assert LogPosition.loads(pos.dumps(with_type=True)) == pos
    assert LogPosition.loads(pos.dumps()) == pos
    ident = ClientIdentity("example", 1001)
    assert ident.to_json() == {"clientId": 1001, "destination": "example", "filter": ""}
    assert ident == ClientIdentity("example", 1001, "db\\..*")
