"""CanalServerWithEmbedded: canal's subscribe/get/ack/rollback semantics and error texts (spec section 2)."""

from __future__ import annotations

import json
import threading
import time

import pytest

from pycanal.errors import (
    BatchNotFound,
    BatchOutOfOrder,
    CanalServerError,
    InstanceNotStarted,
    NotSubscribed,
    UnackedBatch,
)
from pycanal.meta import FileMixedMetaManager, MemoryMetaManager
from pycanal.model import ClientIdentity, EntryPosition, LogIdentity, LogPosition
from pycanal.protocol import entry as pb
from pycanal.server.embedded import CanalServerWithEmbedded, InstanceHandle, Message, TimeUnit
from pycanal.store import ITEMSIZE, MemoryEventStore, StoreEvent

IDENT = LogIdentity("127.0.0.1", 3306)
C1 = ClientIdentity("example", 1001)


def entry(offset: int, entry_type: int = pb.ROWDATA, event_type: int = pb.INSERT) -> StoreEvent:
    ts = 1_700_000_000_000 + offset
    e = pb.Entry()
    e.header.logfileName = "mysql-bin.000001"
    e.header.logfileOffset = offset
    e.header.executeTime = ts
    e.header.eventType = event_type
    e.entryType = entry_type
    p = LogPosition(IDENT, EntryPosition("mysql-bin.000001", offset, 1, ts, ""))
    return StoreEvent.of(e.SerializeToString(), p, entry_type, event_type, "", ts, 1)


def txn(first: int, n_rows: int) -> list[StoreEvent]:
    return [
        entry(first, pb.TRANSACTIONBEGIN, 0),
        *(entry(first + 1 + i) for i in range(n_rows)),
        entry(first + 1 + n_rows, pb.TRANSACTIONEND, 0),
    ]


def offsets(message: Message) -> list[int]:
    return [pb.Entry.FromString(raw).header.logfileOffset for raw in message.entries]


def cursor_offset(server: CanalServerWithEmbedded, identity: ClientIdentity = C1) -> int | None:
    c = server.get_instance(identity.destination).meta_manager.get_cursor(identity)
    return None if c is None else c.position.position


class FakeInstance:
    def __init__(self, destination: str = "example", size: int = 16, meta=None) -> None:
        self.destination = destination
        self.store = MemoryEventStore(size, batch_mode=ITEMSIZE)
        self.meta_manager = meta if meta is not None else MemoryMetaManager()
        self.running = True
        self.filters: list[str] = []

    def is_running(self) -> bool:
        return self.running

    def subscribe_change(self, identity: ClientIdentity) -> None:
        self.filters.append(identity.filter)


@pytest.fixture
def server() -> CanalServerWithEmbedded:
    s = CanalServerWithEmbedded()
    s.register(FakeInstance())
    return s


def store_of(server: CanalServerWithEmbedded, destination: str = "example") -> MemoryEventStore:
    return server.get_instance(destination).store


# ---------------------------------------------------------------------------------------------- checks


def test_fake_satisfies_the_instance_protocol():
    assert isinstance(FakeInstance(), InstanceHandle)
    assert CanalServerWithEmbedded.instance() is CanalServerWithEmbedded.instance()


def test_instance_must_run(server):
    server.get_instance("example").running = False
    calls = [
        lambda: server.subscribe(C1),
        lambda: server.get_without_ack(C1, 10),
        lambda: server.get(C1, 10),
        lambda: server.ack(C1, 1),
        lambda: server.rollback(C1),
        lambda: server.list_batch_ids(C1),
        lambda: server.subscribe(ClientIdentity("nowhere", 1001)),
    ]
    for call in calls:
        pattern = r"^destination:(example|nowhere) should start first$"
        with pytest.raises(InstanceNotStarted, match=pattern) as e:
            call()
        assert e.value.code == 400


def test_client_must_subscribe(server):
    text = "ClientIdentity:ClientIdentity[destination=example,clientId=1001,filter=<null>] should subscribe first"
    calls = (
        lambda: server.get_without_ack(C1, 10),
        lambda: server.get(C1, 10),
        lambda: server.ack(C1, 1),
        lambda: server.list_batch_ids(C1),
    )
    for call in calls:
        with pytest.raises(NotSubscribed) as ei:
            call()
        assert str(ei.value) == text
    server.rollback(C1)  # not subscribed: a no-op (canal's client rolls back before subscribing)
    server.rollback(C1, 3)


def test_empty_destination_is_401_and_batch_zero_is_402(server):
    with pytest.raises(CanalServerError) as ei:
        server.subscribe(ClientIdentity("", 1001))
    assert ei.value.code == 401
    server.subscribe(C1)
    with pytest.raises(CanalServerError, match="batchId should assign value") as ei:
        server.ack(C1, 0)
    assert ei.value.code == 402


# ---------------------------------------------------------------------------------------------- subscribe


def test_subscribe_sets_the_cursor_from_the_store_and_passes_filters(server):
    instance = server.get_instance("example")
    instance.store.put(txn(100, 2))
    server.subscribe(C1)
    assert instance.meta_manager.is_started()  # started on demand
    assert cursor_offset(server) == 100 and instance.filters == []
    server.subscribe(ClientIdentity("example", 1001, "db\\..*"))
    assert instance.filters == ["db\\..*"]
    assert server.list_all_subscribe("example")[0].filter == "db\\..*"
    empty = FakeInstance("quiet")
    server.register(empty)
    server.subscribe(ClientIdentity("quiet", 7))
    assert cursor_offset(server, ClientIdentity("quiet", 7)) is None
    server.unsubscribe(C1)
    assert server.list_all_subscribe("example") == []


# ---------------------------------------------------------------------------------------------- get / ack


def test_no_data_is_batch_minus_one_and_is_not_recorded(server):
    server.subscribe(C1)
    m = server.get_without_ack(C1, 10)
    assert (m.batch_id, m.entries, m.raw) == (-1, [], True)
    assert server.list_batch_ids(C1) == []
    server.ack(C1, -1)  # ignored


def test_streaming_batches_and_in_order_acks(server):
    server.subscribe(C1)
    store_of(server).put(txn(100, 4))  # 100 BEGIN, 101-104 rows, 105 END
    m1, m2, m3 = (server.get_without_ack(C1, 2) for _ in range(3))
    assert (m1.batch_id, m2.batch_id, m3.batch_id) == (1, 2, 3)
    assert offsets(m1) + offsets(m2) + offsets(m3) == [100, 101, 102, 103, 104, 105]
    assert server.list_batch_ids(C1) == [1, 2, 3]
    with pytest.raises(BatchOutOfOrder, match=r"^batchId:2 is not the firstly:1$"):
        server.ack(C1, 2)
    with pytest.raises(BatchNotFound) as e:
        server.ack(C1, 9)
    assert str(e.value) == "ack error , clientId:1001 batchId:9 is not exist , please check"
    server.ack(C1, 1)  # holds BEGIN: an ack point without gtid
    assert cursor_offset(server) == 100
    server.ack(C1, 2)  # rows only: the cursor stays, the store frees
    assert cursor_offset(server) == 100 and store_of(server).ack_sequence == 3
    server.ack(C1, 3)
    assert cursor_offset(server) == 105 and store_of(server).ack_sequence == 5
    with pytest.raises(BatchNotFound):
        server.ack(C1, 3)  # twice
    assert server.list_batch_ids(C1) == []


def test_auto_ack_get(server):
    server.subscribe(C1)
    store_of(server).put(txn(100, 1))
    m = server.get(C1, 10)
    assert (m.batch_id, offsets(m)) == (1, [100, 101, 102])
    assert server.list_batch_ids(C1) == [] and cursor_offset(server) == 102
    assert server.get(C1, 10).batch_id == -1
    store_of(server).put(txn(200, 1))
    server.get_without_ack(C1, 1)
    with pytest.raises(UnackedBatch) as ei:
        server.get(C1, 10)
    assert str(ei.value).startswith("clientId:1001 has last batch:[PositionRange[start=LogPosition[identity=")
    assert str(ei.value).endswith(",endSeq=3]] isn't ack , maybe loss data")


def test_ack_with_a_wrong_store_position_is_a_server_error(server):
    server.subscribe(C1)
    store_of(server).put(txn(100, 1))
    server.get_without_ack(C1, 10)
    store_of(server).rollback()  # behind the server's back: the batch end is no longer handed out
    with pytest.raises(CanalServerError, match="no match ack position") as ei:
        server.ack(C1, 1)
    assert ei.value.code == 400


# ---------------------------------------------------------------------------------------------- rollback


def test_rollback_all_redelivers_after_the_last_ack_under_new_ids(server):
    server.subscribe(C1)
    store_of(server).put(txn(100, 2) + txn(200, 2))  # 100..103, 200..203
    m1 = server.get_without_ack(C1, 4)
    server.get_without_ack(C1, 2)
    server.ack(C1, m1.batch_id)
    server.rollback(C1)
    assert server.list_batch_ids(C1) == []
    m = server.get_without_ack(C1, 10)
    assert (m.batch_id, offsets(m)) == (3, [200, 201, 202, 203])
    server.ack(C1, 3)
    assert cursor_offset(server) == 203
    server.rollback(C1, 0)  # batch 0 on the wire = all
    assert server.get_without_ack(C1, 10).batch_id == -1


def test_rollback_one_batch_checks_order_and_voids_the_rest(server):
    server.subscribe(C1)
    store_of(server).put(txn(100, 4))
    server.get_without_ack(C1, 2)
    server.get_without_ack(C1, 2)
    with pytest.raises(BatchOutOfOrder, match=r"^batchId:2 is not the firstly:1$"):
        server.rollback(C1, 2)
    with pytest.raises(BatchNotFound) as e:
        server.rollback(C1, 7)
    assert str(e.value) == "rollback error, clientId:1001 batchId:7 is not exist , please check"
    assert server.list_batch_ids(C1) == [1, 2]  # failed rollbacks change nothing
    server.rollback(C1, 1)
    assert server.list_batch_ids(C1) == []
    m = server.get_without_ack(C1, 10)
    assert (m.batch_id, offsets(m)) == (3, [100, 101, 102, 103, 104, 105])
    with pytest.raises(BatchNotFound):
        server.ack(C1, 2)  # void after the rollback
    server.ack(C1, 3)
    assert cursor_offset(server) == 105


# ---------------------------------------------------------------------------------------------- timeouts


def test_timeout_none_takes_what_is_there_and_positive_timeouts_wait(server):
    server.subscribe(C1)
    store_of(server).put([entry(1)])
    t0 = time.monotonic()
    assert offsets(server.get_without_ack(C1, 5)) == [1]
    assert time.monotonic() - t0 < 1
    store_of(server).put([entry(2)])
    t0 = time.monotonic()
    m = server.get_without_ack(C1, 5, 80, TimeUnit.MILLISECONDS)
    assert offsets(m) == [2] and time.monotonic() - t0 >= 0.07
    assert server.get_without_ack(C1, 5, 1, TimeUnit.MICROSECONDS).batch_id == -1


def test_zero_timeout_blocks_for_a_full_batch(server):
    server.subscribe(C1)
    box: dict = {}
    t = threading.Thread(target=lambda: box.setdefault("m", server.get_without_ack(C1, 3, 0)), daemon=True)
    t.start()
    store_of(server).put([entry(1), entry(2)])
    t.join(0.1)
    assert t.is_alive()
    store_of(server).put([entry(3)])
    t.join(5)
    assert offsets(box["m"]) == [1, 2, 3]


def test_time_units():
    assert TimeUnit.from_wire(2) is TimeUnit.MILLISECONDS and TimeUnit.from_wire(99) is TimeUnit.MILLISECONDS
    assert TimeUnit.SECONDS.to_seconds(3) == 3 and TimeUnit.MINUTES.to_seconds(1) == 60
    assert TimeUnit.NANOSECONDS.to_seconds(5e8) == pytest.approx(0.5)


# ---------------------------------------------------------------------------------------------- threads


def test_a_blocked_get_does_not_block_the_ack_that_makes_room():
    """Store of 4 is full; batch 1 is outstanding; a blocking get waits for 4 more events, which the
    producer can only put once batch 1 is acked. canal does not lock acks; neither may we."""
    server = CanalServerWithEmbedded()
    server.register(FakeInstance(size=4))
    server.subscribe(C1)
    store = store_of(server)
    store.put([entry(i) for i in range(4)])
    first = server.get_without_ack(C1, 4)
    results: dict = {}
    getter = threading.Thread(target=lambda: results.setdefault("m", server.get_without_ack(C1, 4, 0)), daemon=True)
    producer = threading.Thread(target=lambda: store.put([entry(i) for i in range(4, 8)]), daemon=True)
    getter.start()
    producer.start()
    acker = threading.Thread(target=lambda: server.ack(C1, first.batch_id), daemon=True)
    acker.start()
    for t in (acker, producer, getter):
        t.join(5)
        assert not t.is_alive()
    assert offsets(results["m"]) == [4, 5, 6, 7]


def test_many_destinations_many_threads():
    server = CanalServerWithEmbedded()
    n_dest, n_txn = 4, 200
    for d in range(n_dest):
        server.register(FakeInstance(f"d{d}", size=8))
        server.subscribe(ClientIdentity(f"d{d}", 1001))
    received: dict[str, list[int]] = {f"d{d}": [] for d in range(n_dest)}
    errors: list[BaseException] = []

    def produce(dest: str) -> None:
        store = store_of(server, dest)
        for i in range(n_txn):
            store.put(txn(i * 10, 1))

    def consume(dest: str) -> None:
        identity = ClientIdentity(dest, 1001)
        try:
            while len(received[dest]) < 3 * n_txn:
                m = server.get_without_ack(identity, 5, 200)
                received[dest] += offsets(m)
                server.ack(identity, m.batch_id)
        except BaseException as exc:
            errors.append(exc)

    threads = [
        threading.Thread(target=f, args=(f"d{d}",), daemon=True) for d in range(n_dest) for f in (produce, consume)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
        assert not t.is_alive()
    assert errors == []
    expected = [i * 10 + k for i in range(n_txn) for k in range(3)]
    for d in range(n_dest):
        assert received[f"d{d}"] == expected
        assert cursor_offset(server, ClientIdentity(f"d{d}", 1001)) == (n_txn - 1) * 10 + 2


# ---------------------------------------------------------------------------------------------- with meta.dat


def test_acked_cursor_reaches_meta_dat(tmp_path):
    server = CanalServerWithEmbedded()
    meta = FileMixedMetaManager(tmp_path, period_ms=60_000)
    instance = FakeInstance(meta=meta)
    server.register(instance)
    server.subscribe(C1)
    instance.store.put(txn(100, 2))
    m = server.get_without_ack(C1, 10)
    server.ack(C1, m.batch_id)
    meta.stop()
    data = json.loads((tmp_path / "example" / "meta.dat").read_text())
    assert data["clientDatas"][0]["cursor"]["postion"]["position"] == 103
    # a restarted instance: batch ids start at 1 again, the cursor is back from meta.dat
    server.register(FakeInstance(meta=FileMixedMetaManager(tmp_path, period_ms=60_000)))
    server.subscribe(C1)
    assert cursor_offset(server) == 103
    store_of(server).put(txn(200, 1))
    assert server.get_without_ack(C1, 10).batch_id == 1
    server.get_instance("example").meta_manager.stop(flush=False)
