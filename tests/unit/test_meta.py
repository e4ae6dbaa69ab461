"""Meta managers: subscriptions, cursors, batch records; canal's meta.dat; periodic flush to a backend."""

from __future__ import annotations

import json
import threading

import pytest

from helpers import wait_for
from pycanal.errors import BatchOrderError, ConfigError, MetaError
from pycanal.meta import FileMixedMetaManager, MemoryMetaManager, MetaManager, PeriodMixedMetaManager
from pycanal.model import ClientIdentity, EntryPosition, LogIdentity, LogPosition
from pycanal.store import PositionRange

C1 = ClientIdentity("example", 1001)
C2 = ClientIdentity("example", 1002)
OTHER = ClientIdentity("other", 1001)


def cursor(offset: int, ts: int = 1675914626000) -> LogPosition:
    return LogPosition(LogIdentity("127.0.0.1", 3306), EntryPosition("mysql-bin.000001", offset, 1, ts, ""))


def rng(a: int, b: int) -> PositionRange:
    return PositionRange(cursor(a), cursor(b), cursor(b), b)


@pytest.fixture
def memory() -> MemoryMetaManager:
    m = MemoryMetaManager()
    m.start()
    return m


# ---------------------------------------------------------------------------------------------- memory


def test_operations_need_start():
    m = MemoryMetaManager()
    with pytest.raises(MetaError, match="not started"):
        m.subscribe(C1)
    m.start()
    assert m.is_started()
    m.stop()
    with pytest.raises(MetaError, match="not started"):
        m.get_cursor(C1)


def test_subscriptions(memory):
    assert not memory.has_subscribe(C1)
    memory.subscribe(C1)
    memory.subscribe(C2)
    memory.subscribe(OTHER)
    assert memory.list_all_subscribe_info("example") == [C1, C2]
    memory.subscribe(ClientIdentity("example", 1001, "db\\..*"))  # re-subscribe replaces the record
    infos = memory.list_all_subscribe_info("example")
    assert infos == [C2, C1] and infos[1].filter == "db\\..*"
    memory.unsubscribe(C2)
    memory.unsubscribe(C2)  # twice is harmless
    assert memory.list_all_subscribe_info("example") == [C1]
    assert memory.has_subscribe(OTHER) and not memory.has_subscribe(C2)


def test_cursors(memory):
    assert memory.get_cursor(C1) is None
    memory.update_cursor(C1, cursor(4))
    memory.update_cursor(C1, cursor(8))
    assert memory.get_cursor(C1) == cursor(8)
    assert memory.get_cursor(ClientIdentity("example", 1001, "f")) == cursor(8)  # the filter is not identity
    assert memory.get_cursor(C2) is None


def test_batch_ids_start_at_one_per_client(memory):
    assert [memory.add_batch(C1, rng(i, i + 1)) for i in range(3)] == [1, 2, 3]
    assert memory.add_batch(C2, rng(0, 1)) == 1
    assert memory.get_batch(C1, 2) == rng(1, 2)
    assert memory.get_first_batch(C1) == rng(0, 1) and memory.get_last_batch(C1) == rng(2, 3)
    assert list(memory.list_all_batchs(C1)) == [1, 2, 3]


def test_add_batch_with_explicit_id_moves_the_counter(memory):
    assert memory.add_batch(C1, rng(0, 1), 7) == 7
    assert memory.add_batch(C1, rng(1, 2)) == 8
    assert memory.add_batch(C1, rng(2, 3), 3) == 3
    assert memory.add_batch(C1, rng(3, 4)) == 9
    assert list(memory.list_all_batchs(C1)) == [3, 7, 8, 9]


def test_remove_batch_must_be_the_first(memory):
    for i in range(3):
        memory.add_batch(C1, rng(i, i + 1))
    with pytest.raises(BatchOrderError, match=r"^batchId:2 is not the firstly:1$"):
        memory.remove_batch(C1, 2)
    assert memory.remove_batch(C1, 9) is None
    assert memory.remove_batch(C1, 1) == rng(0, 1)
    assert memory.remove_batch(C1, 1) is None
    assert memory.remove_batch(C1, 2) == rng(1, 2)


def test_clear_keeps_the_id_counter_but_restart_resets_it(memory):
    memory.add_batch(C1, rng(0, 1))
    memory.add_batch(C1, rng(1, 2))
    memory.clear_all_batchs(C1)
    assert memory.list_all_batchs(C1) == {} and memory.get_last_batch(C1) is None
    assert memory.add_batch(C1, rng(2, 3)) == 3
    memory.stop()
    memory.start()
    assert memory.add_batch(C1, rng(2, 3)) == 1


def test_managers_are_meta_managers():
    assert issubclass(FileMixedMetaManager, MetaManager) and issubclass(PeriodMixedMetaManager, MetaManager)


# ---------------------------------------------------------------------------------------------- file


CURSOR_JSON = (
    '{"identity":{"slaveId":-1,"sourceAddress":{"address":"127.0.0.1","port":3306}},'
    '"postion":{"gtid":"","included":false,"journalName":"mysql-bin.000001","position":%d,'
    '"serverId":1,"timestamp":1675914626000}}'
)


@pytest.fixture
def file_meta(tmp_path):
    made: list[FileMixedMetaManager] = []

    def make(period_ms: int = 60_000, **kw) -> FileMixedMetaManager:
        m = FileMixedMetaManager(tmp_path, period_ms, **kw)
        m.start()
        made.append(m)
        return m

    yield make
    for m in made:
        if m.is_started():
            m.stop(flush=False)


def test_meta_dat_exact_layout(tmp_path, file_meta):
    m = file_meta()
    m.subscribe(C1)  # written at once, no cursor yet
    path = tmp_path / "example" / "meta.dat"
    assert path.read_text() == (
        '{"clientDatas":[{"clientIdentity":{"clientId":1001,"destination":"example","filter":""}}],'
        '"destination":"example"}'
    )
    m.update_cursor(C1, cursor(4))
    m.flush()
    assert path.read_text() == (
        '{"clientDatas":[{"clientIdentity":{"clientId":1001,"destination":"example","filter":""},'
        f'"cursor":{CURSOR_JSON % 4}}}],"destination":"example"}}'
    )
    assert not [p.name for p in path.parent.iterdir() if p.name != "meta.dat"], "temp files left behind"


def test_meta_dat_reloads_after_restart(tmp_path, file_meta):
    m = file_meta()
    m.subscribe(ClientIdentity("example", 1001, ".*\\..*"))
    m.subscribe(C2)
    m.update_cursor(C1, cursor(120))
    m.subscribe(OTHER)
    m.stop()  # flushes everything
    again = file_meta(destinations=["example"])
    infos = again.list_all_subscribe_info("example")
    assert infos == [C1, C2] and infos[0].filter == ".*\\..*"
    assert again.get_cursor(C1) == cursor(120) and again.get_cursor(C2) is None
    assert again.list_all_subscribe_info("other") == [OTHER]  # loaded lazily
    assert again.list_all_batchs(C1) == {}  # batches are memory only


def test_periodic_flush_writes_changed_cursors(tmp_path, file_meta):
    m = file_meta(period_ms=50)
    m.subscribe(C1)
    m.update_cursor(C1, cursor(777))
    path = tmp_path / "example" / "meta.dat"
    data = wait_for(lambda: json.loads(path.read_text())["clientDatas"][0].get("cursor"), timeout=5)
    assert data["postion"]["position"] == 777


def test_unsubscribe_drops_the_client_but_never_empties_the_file(tmp_path, file_meta):
    m = file_meta()
    m.subscribe(C1)
    m.subscribe(C2)
    m.update_cursor(C1, cursor(4))
    m.unsubscribe(C2)
    path = tmp_path / "example" / "meta.dat"
    datas = json.loads(path.read_text())["clientDatas"]
    assert [d["clientIdentity"]["clientId"] for d in datas] == [1001] and "cursor" in datas[0]
    before = path.read_text()
    m.unsubscribe(C1)  # the last client: the file keeps it and its cursor (canal issue #4312)
    m.stop()
    assert path.read_text() == before


def test_crash_between_ack_and_flush_resumes_from_the_previous_cursor(tmp_path, file_meta):
    """An ack moves the cursor in memory; meta.dat only changes at the next period or at stop. A crash in
    between (stop without flush) loses that progress: the restart resumes from the previous cursor and
    the client gets those events again (at least once, never lost)."""
    m = file_meta()  # period 60 s: no periodic flush during the test
    m.subscribe(C1)
    m.update_cursor(C1, cursor(100))
    m.stop()
    m2 = file_meta()
    assert m2.get_cursor(C1) == cursor(100)
    m2.update_cursor(C1, cursor(200))  # acked in memory ...
    m2.stop(flush=False)  # ... and the process dies before the flush
    m3 = file_meta()
    assert m3.get_cursor(C1) == cursor(100)


def test_corrupt_meta_dat_is_a_config_error_naming_the_file(tmp_path):
    path = tmp_path / "example" / "meta.dat"
    path.parent.mkdir()
    path.write_text('{"clientDatas":[{"clientIdentity":{"clientId":1001,"destination":"example"')
    m = FileMixedMetaManager(tmp_path, destinations=["example"])
    with pytest.raises(ConfigError, match=r"meta file .*example/meta\.dat is not valid JSON"):
        m.start()
    assert not m.is_started()
    lazy = FileMixedMetaManager(tmp_path)
    lazy.start()
    try:
        with pytest.raises(ConfigError, match=r"meta\.dat"):
            lazy.has_subscribe(C1)
        path.write_text('{"clientDatas":[{"clientIdentity":{"destination":"example"}}]}')
        lazy2 = FileMixedMetaManager(tmp_path, destinations=["example"])
        with pytest.raises(ConfigError, match=r"meta\.dat: bad clientDatas\[0\]"):
            lazy2.start()
    finally:
        lazy.stop(flush=False)


def test_reads_a_meta_dat_written_by_canal(tmp_path, file_meta):
    path = tmp_path / "example" / "meta.dat"
    path.parent.mkdir()
    path.write_text(
        '{"clientDatas":[{"clientIdentity":{"clientId":1001,"destination":"example","filter":""},'
        '"cursor":{"identity":{"slaveId":-1,"sourceAddress":{"address":"dbaddress","port":3306}},'
        '"postion":{"gtid":"","included":false,"journalName":"mysql-bin.033017","position":162831532,'
        '"serverId":12136,"timestamp":1675914626000}}}],"destination":"example"}'
    )
    m = file_meta(destinations=["example"])
    c = m.get_cursor(C1)
    assert (c.identity.address, c.position.journal_name, c.position.position) == (
        "dbaddress",
        "mysql-bin.033017",
        162831532,
    )


def test_empty_meta_dat_holds_no_clients(tmp_path, file_meta):
    (tmp_path / "example").mkdir()
    (tmp_path / "example" / "meta.dat").write_text("")
    assert file_meta(destinations=["example"]).list_all_subscribe_info("example") == []


def test_bad_period_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError):
        FileMixedMetaManager(tmp_path, period_ms=0)


# ---------------------------------------------------------------------------------------------- period


class RecordingBackend(MemoryMetaManager):
    """A synchronous backend (as the ZooKeeper meta manager will be) that records cursor writes."""

    def __init__(self, fail_cursor_writes: int = 0) -> None:
        super().__init__()
        self.cursor_writes: list[tuple[ClientIdentity, LogPosition]] = []
        self.fail = fail_cursor_writes
        self.written = threading.Event()

    def update_cursor(self, identity, position):
        if self.fail:
            self.fail -= 1
            raise MetaError("backend down")
        super().update_cursor(identity, position)
        self.cursor_writes.append((identity, position))
        self.written.set()

    def start(self):  # keep state across a stop/start of the period manager, as a real store would
        if not hasattr(self, "_once"):
            self._once = True
            super().start()
        self._started = True

    def stop(self):
        self._started = False


@pytest.fixture
def period_meta():
    made: list[PeriodMixedMetaManager] = []

    def make(backend: MetaManager, period_ms: int = 50) -> PeriodMixedMetaManager:
        m = PeriodMixedMetaManager(backend, period_ms)
        m.start()
        made.append(m)
        return m

    yield make
    for m in made:
        if m.is_started():
            m.stop()


def test_period_loads_from_the_backend_lazily(period_meta):
    backend = RecordingBackend()
    backend.start()
    backend.subscribe(C1)
    backend.update_cursor(C1, cursor(50))
    backend.add_batch(C1, rng(1, 2), 5)
    backend.cursor_writes.clear()
    m = period_meta(backend)
    assert m.list_all_subscribe_info("example") == [C1]
    assert m.get_cursor(C1) == cursor(50)
    assert list(m.list_all_batchs(C1)) == [5] and m.add_batch(C1, rng(2, 3)) == 6


def test_period_forwards_subscriptions_and_changed_cursors_only(period_meta):
    backend = RecordingBackend()
    m = period_meta(backend)
    assert backend.is_started()
    m.subscribe(C1)
    wait_for(lambda: backend.has_subscribe(C1), timeout=5)
    m.update_cursor(C1, cursor(10))
    m.update_cursor(C1, cursor(20))  # merged: one write per period
    wait_for(lambda: backend.cursor_writes, timeout=5)
    assert backend.cursor_writes == [(C1, cursor(20))]
    m.add_batch(C1, rng(20, 30))
    assert backend.list_all_batchs(C1) == {}  # batches are never forwarded
    m.unsubscribe(C1)
    wait_for(lambda: not backend.has_subscribe(C1), timeout=5)
    assert backend.cursor_writes == [(C1, cursor(20))]  # nothing changed since


def test_period_retries_a_failed_cursor_write(period_meta):
    backend = RecordingBackend(fail_cursor_writes=1)
    m = period_meta(backend)
    m.subscribe(C1)
    m.update_cursor(C1, cursor(10))
    assert backend.written.wait(5)
    assert backend.cursor_writes == [(C1, cursor(10))]


def test_period_stop_does_not_push_pending_cursors_unless_asked():
    backend = RecordingBackend()
    m = PeriodMixedMetaManager(backend, period_ms=60_000)
    m.start()
    m.subscribe(C1)
    m.update_cursor(C1, cursor(10))
    m.stop()  # canal: an HA successor may own the cursor now
    assert backend.cursor_writes == []
    m.start()
    assert m.has_subscribe(C1), "the queued subscribe reached the backend before the stop"
    m.update_cursor(C1, cursor(11))
    m.stop(flush=True)
    assert backend.cursor_writes == [(C1, cursor(11))]
