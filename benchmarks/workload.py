"""The benchmark workload: an OLTP ``orders`` table and a mixed stream of inserts, updates and deletes.

The workload is written with plain SQL through PyMySQL so that the binlog it leaves is what an ordinary
application would leave: multi-row INSERT statements, range UPDATEs and range DELETEs, committed in
transactions of 1,000 row changes. Every row change is counted from ``cursor.rowcount``, so the readers
can be checked against an exact figure rather than an estimate.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import random
import time
from dataclasses import dataclass
from typing import Any

from pymysql.converters import escape_string

DATABASE = "bench"
TABLE = "orders"

# Fourteen columns of the types an order table really has; MariaDB logs them all (FULL row image).
DDL = f"""
CREATE TABLE {DATABASE}.{TABLE} (
  id          BIGINT NOT NULL PRIMARY KEY,
  customer_id INT NOT NULL,
  quantity    INT UNSIGNED NOT NULL,
  region      SMALLINT NOT NULL,
  price       DECIMAL(12,2) NOT NULL,
  weight      DOUBLE NOT NULL,
  sku         VARCHAR(64) CHARACTER SET latin1 NOT NULL,
  title       VARCHAR(255) CHARACTER SET utf8mb4 NOT NULL,
  currency    CHAR(10) NOT NULL,
  created_at  DATETIME(3) NOT NULL,
  updated_at  TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
  ship_date   DATE NULL,
  status      ENUM('new','paid','shipped','delivered','cancelled') NOT NULL,
  note        TEXT CHARACTER SET utf8mb4 NULL
) ENGINE=InnoDB
"""
COLUMNS = (
    "id",
    "customer_id",
    "quantity",
    "region",
    "price",
    "weight",
    "sku",
    "title",
    "currency",
    "created_at",
    "updated_at",
    "ship_date",
    "status",
    "note",
)
STATUSES = ("new", "paid", "shipped", "delivered", "cancelled")
CURRENCIES = ("USD", "EUR", "JPY", "CNY", "GBP", "CHF", "BRL")
# Mixed ASCII and multi-byte words (2-, 3- and 4-byte UTF-8) plus a quote, as real titles and notes have.
WORDS = (
    "blue",
    "cotton",
    "shirt",
    "large",
    "Café",
    "crème",
    "naïve",
    "Ørsted",
    "日本語",
    "北京",
    "商品",
    "🚀",
    "👍",
    "O'Brien",
    "deluxe",
    "pack",
    "of",
    "12",
    "wireless",
    "mouse",
    "Größe",
    "señor",
    "steel",
    "bottle",
    "organic",
    "tea",
    "Привет",
    "κόσμε",
    "refill",
    "gift",
)

# One round = one transaction: INSERT 500 new rows, UPDATE 350 existing rows, DELETE the 150 oldest.
INSERTS_PER_ROUND = 500
UPDATES_PER_ROUND = 350
DELETES_PER_ROUND = 150
ROUND_ROWS = INSERTS_PER_ROUND + UPDATES_PER_ROUND + DELETES_PER_ROUND


@dataclass(frozen=True)
class Workload:
    """What was written: the binlog range and the exact row changes in it."""

    start: tuple[str, int]
    end: tuple[str, int]
    inserted: int
    updated: int
    deleted: int
    binlog_bytes: int
    write_seconds: float

    @property
    def rows(self) -> int:
        return self.inserted + self.updated + self.deleted


def _text(rng: random.Random, lo: int, hi: int) -> str:
    words: list[str] = []
    n = 0
    target = rng.randint(lo, hi)
    while n < target:
        w = rng.choice(WORDS)
        words.append(w)
        n += len(w) + 1
    return " ".join(words)[:hi]


def _row_literal(rng: random.Random, row_id: int, base: dt.datetime) -> str:
    """One ``(...)`` VALUES tuple as SQL text: built by hand because it is far faster than parameters."""
    quantity = rng.randint(1, 500) if rng.random() > 0.01 else rng.randint(2**31, 2**32 - 1000)
    cents = rng.randint(50, 2_500_000)
    created = base + dt.timedelta(seconds=row_id * 7 + rng.random())
    updated = created + dt.timedelta(seconds=rng.randint(0, 86400))
    ship = "NULL" if rng.random() < 0.2 else f"'{(created + dt.timedelta(days=rng.randint(1, 9))):%Y-%m-%d}'"
    note = "NULL" if rng.random() < 0.4 else f"'{escape_string(_text(rng, 10, 300))}'"
    return (
        f"({row_id},{rng.randint(1, 2_000_000)},{quantity},{rng.randint(-300, 300)},"
        f"{cents // 100}.{cents % 100:02d},{rng.random() * 100!r},'SKU-{rng.randrange(16**10):010x}',"
        f"'{escape_string(_text(rng, 20, 120))}','{rng.choice(CURRENCIES)}',"
        f"'{created:%Y-%m-%d %H:%M:%S.%f}','{updated:%Y-%m-%d %H:%M:%S}',{ship},"
        f"'{rng.choice(STATUSES)}',{note})"
    )


def binlog_bytes(conn: Any, start: tuple[str, int], end: tuple[str, int]) -> int:
    """Bytes of binlog between two positions, across rotations (SHOW BINARY LOGS gives file sizes)."""
    with conn.cursor() as cur:
        cur.execute("SHOW BINARY LOGS")
        sizes = {str(r[0]): int(r[1]) for r in cur.fetchall()}
    if start[0] == end[0]:
        return end[1] - start[1]
    names = sorted(n for n in sizes if start[0] <= n <= end[0])
    total = sizes[start[0]] - start[1] + end[1]
    return total + sum(sizes[n] for n in names if n not in (start[0], end[0]))


def master_status(conn: Any) -> tuple[str, int]:
    with conn.cursor() as cur:
        cur.execute("SHOW MASTER STATUS")
        row = cur.fetchone()
    return str(row[0]), int(row[1])


def write_workload(sandbox: Any, rows: int, seed: int = 20240601) -> Workload:
    """Create the table and write at least ``rows`` row changes, in whole rounds of ``ROUND_ROWS``."""
    rounds = max(1, -(-rows // ROUND_ROWS))
    rng = random.Random(seed)
    base = dt.datetime(2024, 1, 1)
    inserted = updated = deleted = 0
    with contextlib.closing(sandbox.connect()) as conn:
        with conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE IF NOT EXISTS {DATABASE}")
            cur.execute(f"DROP TABLE IF EXISTS {DATABASE}.{TABLE}")
            cur.execute(DDL)
        start = master_status(conn)
        t0 = time.perf_counter()
        next_id = 1  # live ids are always the contiguous range [oldest, next_id)
        oldest = 1
        cols = ",".join(COLUMNS)
        for r in range(rounds):
            conn.begin()
            with conn.cursor() as cur:
                values = ",".join(_row_literal(rng, next_id + i, base) for i in range(INSERTS_PER_ROUND))
                cur.execute(f"INSERT INTO {DATABASE}.{TABLE} ({cols}) VALUES {values}")
                inserted += cur.rowcount
                next_id += INSERTS_PER_ROUND
                # every updated row really changes (quantity + 1), so rowcount == rows logged
                lo = rng.randint(oldest, next_id - UPDATES_PER_ROUND)
                cur.execute(
                    f"UPDATE {DATABASE}.{TABLE} SET quantity = quantity + 1, price = price + 0.25, "
                    f"status = ELT(1 + ((id + {r}) % 5), {','.join(repr(s) for s in STATUSES)}), "
                    "updated_at = updated_at + INTERVAL 1 MINUTE, "
                    "note = IF(note IS NULL, 'updated', CONCAT(LEFT(note, 200), ' ✓')) "
                    f"WHERE id BETWEEN {lo} AND {lo + UPDATES_PER_ROUND - 1}"
                )
                updated += cur.rowcount
                cur.execute(
                    f"DELETE FROM {DATABASE}.{TABLE} WHERE id BETWEEN {oldest} AND {oldest + DELETES_PER_ROUND - 1}"
                )
                deleted += cur.rowcount
                oldest += DELETES_PER_ROUND
            conn.commit()
        write_seconds = time.perf_counter() - t0
        end = master_status(conn)
        size = binlog_bytes(conn, start, end)
    return Workload(start, end, inserted, updated, deleted, size, write_seconds)
