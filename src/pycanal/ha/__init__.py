"""ZooKeeper HA as canal does it: znode paths, running-node JSON, the server running monitor, admin actions.

Modules: ``zk`` (canal.zkServers, the kazoo client factory, local_ip), ``paths`` (every znode path), ``data``
(running-node JSON), ``running`` (server side election and fencing), ``client_running`` (client side),
``admin`` (show / release / move). kazoo is imported only by
the modules that talk to ZooKeeper; listeners there only set flags, the work runs in the monitors' threads.
"""
