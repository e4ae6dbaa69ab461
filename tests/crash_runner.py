"""A process that runs one instance and one consumer, for the crash tests (killed with SIGKILL).

    python crash_runner.py CONF_DIR OUT_FILE [--ack-delay S]

It subscribes client 1001 to destination 'example', and for every batch appends the ids of its INSERT rows
to OUT_FILE (one line per batch, flushed and fsynced) *before* acking it, so a kill between the write and
the ack, or between the ack and the meta flush, is a real crash at that point. It runs until killed.
"""

from __future__ import annotations

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from instance_helpers import make_instance, rows_of
from pycanal.model import ClientIdentity
from pycanal.server.embedded import CanalServerWithEmbedded


def main() -> None:
    conf, out = sys.argv[1], sys.argv[2]
    ack_delay = float(sys.argv[sys.argv.index("--ack-delay") + 1]) if "--ack-delay" in sys.argv else 0.0
    inst = make_instance(conf)
    server = CanalServerWithEmbedded()
    server.register(inst)
    inst.start()
    ident = ClientIdentity("example", 1001)
    server.subscribe(ident)
    server.rollback(ident)  # as canal's Java client does on connect
    with open(out, "a") as f:
        f.write("START\n")
        f.flush()
        while True:
            if inst.error is not None:
                f.write(f"ERROR {inst.error}\n")
                f.flush()
                return
            msg = server.get_without_ack(ident, 8, timeout=0.5)
            if msg.batch_id == -1:
                continue
            ids = [r[3]["id"] for r in rows_of(msg.entries) if r[0] == "INSERT"]
            if ids:
                f.write(" ".join(ids) + "\n")
                f.flush()
                os.fsync(f.fileno())
            if ack_delay:
                time.sleep(ack_delay)
            server.ack(ident, msg.batch_id)


if __name__ == "__main__":
    main()
