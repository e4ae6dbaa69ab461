"""canal's ``a;b`` canal.zkServers form against a real ZooKeeper: the other clusters' hosts are used too.

The first "cluster" here is a port where nothing listens. canal's ZooKeeperx would try it first, then the
second cluster's hosts in the same session; the server side of pycanal used to keep only the first cluster
(and so never connected), the client side mixed all hosts. Both now go through pycanal.ha.zk.
"""

from __future__ import annotations

import uuid

import pytest

from pycanal.client.cluster import ClusterConnector
from pycanal.errors import HAError, ServerNotFound
from pycanal.ha.admin import admin_release
from pycanal.ha.zk import start_client
from pycanal.sandbox.mariadb import free_port

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


def test_the_second_cluster_is_reached_when_the_first_is_down(zookeeper):
    servers = f"127.0.0.1:{free_port()};{zookeeper.hosts}"
    zk = start_client(servers, session_timeout_s=10.0, connect_timeout_s=20.0)
    try:
        assert zk.connected and zk.exists("/") is not None
    finally:
        zk.stop()
        zk.close()
    # the operator CLI (server side) ...
    with pytest.raises(HAError, match="no server runs it"):  # not ZooKeeperUnavailable: ZooKeeper answered
        admin_release(servers, f"zk_servers_{uuid.uuid4().hex[:6]}", timeout=20.0)
    # ... and the cluster client reach it alike (no canal server runs this destination: ZooKeeper says so)
    conn = ClusterConnector(
        servers, f"zk_servers_{uuid.uuid4().hex[:6]}", retry_times=0, zk_connect_timeout=20.0, client_running=False
    )
    with pytest.raises(ServerNotFound):
        conn.connect()
    conn.disconnect()
