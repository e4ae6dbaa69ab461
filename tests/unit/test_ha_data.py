"""Running-node JSON byte-for-byte as canal writes it, canal's readings of it, and every znode path."""

from __future__ import annotations

import pytest

from pycanal.errors import ConfigError, HAError
from pycanal.ha import paths
from pycanal.ha.data import ClientRunningData, ServerRunningData, parse_client_running, parse_server_running
from pycanal.ha.running import server_address
from pycanal.model import EntryPosition, LogIdentity, LogPosition

# canal-spec.md 5.2 / 4.1 samples (fastjson2: alphabetical keys, nulls omitted, no spaces)
SERVER_NOW = b'{"active":true,"address":"10.0.0.1:11111"}'
SERVER_OLD = b'{"active":true,"address":"10.0.0.1:11111","cid":1}'
CLIENT = b'{"active":true,"address":"10.0.0.9:53122","clientId":1001}'
ZK_CURSOR = (
    '{"@type":"com.alibaba.otter.canal.protocol.position.LogPosition","identity":{"slaveId":-1,'
    '"sourceAddress":{"address":"dbaddress","port":3306}},"postion":{"gtid":"","included":false,'
    '"journalName":"mysql-bin.033017","position":162831532,"serverId":12136,"timestamp":1675914626000}}'
)


def test_server_running_data_is_canals_bytes():
    assert ServerRunningData("10.0.0.1:11111").to_bytes() == SERVER_NOW
    assert ServerRunningData("10.0.0.1:11111", cid=1).to_bytes() == SERVER_OLD
    assert ServerRunningData("10.0.0.1:11111", active=False).dumps() == '{"active":false,"address":"10.0.0.1:11111"}'


def test_server_running_data_parses_canals_writes():
    assert parse_server_running(SERVER_NOW) == ServerRunningData("10.0.0.1:11111", True, None)
    assert parse_server_running(SERVER_OLD) == ServerRunningData("10.0.0.1:11111", True, 1)
    # what canal's own reader tolerates: any key order, unknown keys, missing active, strings for values
    assert parse_server_running('{"address":"h:1","extra":[1],"cid":"7"}') == ServerRunningData("h:1", True, 7)
    assert parse_server_running('{"active":"false","address":"h:1"}').active is False
    assert parse_server_running(' {"active" : false , "address" : "h:1"} ').active is False


@pytest.mark.parametrize(
    "bad",
    [
        b"",
        b"not json",
        b"[]",
        b'{"active":true}',
        b'{"address":""}',
        b'{"address":"h:1","active":"maybe"}',
        b'{"address":"h:1","cid":"x"}',
        b"\xff\xfe",
    ],
)
def test_server_running_data_rejects_garbage(bad):
    with pytest.raises(HAError):
        parse_server_running(bad)


def test_client_running_data_is_canals_bytes():
    data = ClientRunningData(1001, "10.0.0.9:53122")
    assert data.to_bytes() == CLIENT
    assert parse_client_running(CLIENT) == data
    assert ClientRunningData(1001, "10.0.0.9").dumps() == '{"active":true,"address":"10.0.0.9","clientId":1001}'
    with pytest.raises(HAError):
        parse_client_running(b'{"active":true,"address":"10.0.0.9"}')


def test_zk_cursor_json_round_trips_byte_for_byte():
    pos = LogPosition.loads(ZK_CURSOR)
    assert pos == LogPosition(
        LogIdentity("dbaddress", 3306), EntryPosition("mysql-bin.033017", 162831532, 12136, 1675914626000, "")
    )
    assert pos.dumps(with_type=True) == ZK_CURSOR


def test_paths_are_canals():
    assert paths.destination_path("example") == "/otter/canal/destinations/example"
    assert paths.destination_server_running("example") == "/otter/canal/destinations/example/running"
    assert paths.destination_cluster_root("example") == "/otter/canal/destinations/example/cluster"
    assert (
        paths.destination_cluster_node("example", "10.0.0.1:11111")
        == "/otter/canal/destinations/example/cluster/10.0.0.1:11111"
    )
    assert paths.canal_cluster_node("10.0.0.1:11111") == "/otter/canal/cluster/10.0.0.1:11111"
    assert paths.CANAL_CLUSTER_ROOT_NODE == "/otter/canal/cluster"
    assert paths.parse_path("example") == "/otter/canal/destinations/example/parse"
    assert paths.client_id_node_path("example", 1001) == "/otter/canal/destinations/example/1001"
    assert paths.filter_path("example", 1001) == "/otter/canal/destinations/example/1001/filter"
    assert paths.cursor_path("example", 1001) == "/otter/canal/destinations/example/1001/cursor"
    assert paths.destination_client_running("example", 1001) == "/otter/canal/destinations/example/1001/running"
    assert paths.batch_mark_path("example", 1001) == "/otter/canal/destinations/example/1001/mark"
    assert (
        paths.batch_mark_with_id_path("example", 1001, 12) == "/otter/canal/destinations/example/1001/mark/0000000012"
    )
    assert paths.preferred_path("example") == "/otter/canal/destinations/example/preferred"


def test_node_names():
    assert paths.batch_mark_node(1) == "0000000001"
    assert paths.batch_mark_node(2**31 - 1) == "2147483647"
    assert paths.batch_mark_id("0000000042") == 42
    assert [
        n for n in ["running", "cluster", "1001", "parse", "preferred", "-1", "12a", "0002"] if paths.is_client_node(n)
    ] == ["1001", "0002"]
    assert paths.client_id_of("0002") == 2
    for bad in (
        lambda: paths.batch_mark_node(-1),
        lambda: paths.batch_mark_node(2**31),
        lambda: paths.batch_mark_id("x1"),
        lambda: paths.client_id_of("40000"),
        lambda: paths.client_id_node_path("example", 40000),
        lambda: paths.client_id_node_path("e", True),
        lambda: paths.destination_path("a/b"),
        lambda: paths.destination_path(""),
        lambda: paths.destination_path(".."),
        lambda: paths.canal_cluster_node("x/y"),
    ):
        with pytest.raises(HAError):
            bad()


def test_server_address():
    assert server_address("10.1.1.1", "10.2.2.2", 11111) == "10.1.1.1:11111"
    assert server_address("", "10.2.2.2", 11111) == "10.2.2.2:11111"
    host, port = server_address("", "", 11111).rsplit(":", 1)
    assert host and port == "11111"
    with pytest.raises(ConfigError, match=r"canal\.port = 0"):
        server_address("h", "", 0)
