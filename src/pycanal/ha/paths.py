"""Every znode path canal uses (its ZookeeperPathUtils, canal-spec.md section 5.1), plus pycanal's one extension.

Layout::

    /otter/canal/cluster/{ip:port}                          ephemeral: a live server
    /otter/canal/destinations/{dest}/running                ephemeral: ServerRunningData of the HA winner
    /otter/canal/destinations/{dest}/cluster/{ip:port}      ephemeral: a server that can run {dest}
    /otter/canal/destinations/{dest}/parse                  LogPosition JSON (manager mode only)
    /otter/canal/destinations/{dest}/{clientId}             a subscription (decimal client id)
    /otter/canal/destinations/{dest}/{clientId}/filter      the subscriber's filter, raw text
    /otter/canal/destinations/{dest}/{clientId}/cursor      LogPosition JSON with "@type"
    /otter/canal/destinations/{dest}/{clientId}/running     ephemeral: ClientRunningData
    /otter/canal/destinations/{dest}/{clientId}/mark/{id}   PositionRange JSON with "@type", id zero-padded

pycanal adds ``/otter/canal/destinations/{dest}/preferred`` (a server address, raw text): the admin "move"
hint. canal ignores it: it lists only numeric children of a destination as clients.
Imports only errors.
"""

from __future__ import annotations

from ..errors import HAError

ZOOKEEPER_SEPARATOR = "/"
OTTER_ROOT_NODE = "/otter"
CANAL_ROOT_NODE = OTTER_ROOT_NODE + "/canal"
DESTINATION_ROOT_NODE = CANAL_ROOT_NODE + "/destinations"
CANAL_CLUSTER_ROOT_NODE = CANAL_ROOT_NODE + "/cluster"

FILTER_NODE = "filter"
BATCH_MARK_NODE = "mark"
PARSE_NODE = "parse"
CURSOR_NODE = "cursor"
RUNNING_NODE = "running"
CLUSTER_NODE = "cluster"
PREFERRED_NODE = "preferred"  # pycanal only

JAVA_SHORT = range(-(2**15), 2**15)
BATCH_MARK_WIDTH = 10  # ZooKeeper's sequence suffix width


def _name(value: str, what: str) -> str:
    """A single znode name: non-empty, no separator, not . or .. (ZooKeeper rejects those)."""
    if not isinstance(value, str) or not value or "/" in value or value in (".", "..") or "\x00" in value:
        raise HAError(f"{what} {value!r} cannot be a znode name")
    return value


def _client(client_id: int) -> str:
    if isinstance(client_id, bool) or not isinstance(client_id, int) or client_id not in JAVA_SHORT:
        raise HAError(f"client id {client_id!r} is not a Java short")
    return str(client_id)


def destination_path(destination: str) -> str:
    return f"{DESTINATION_ROOT_NODE}/{_name(destination, 'destination')}"


def client_id_node_path(destination: str, client_id: int) -> str:
    return f"{destination_path(destination)}/{_client(client_id)}"


def filter_path(destination: str, client_id: int) -> str:
    return f"{client_id_node_path(destination, client_id)}/{FILTER_NODE}"


def cursor_path(destination: str, client_id: int) -> str:
    return f"{client_id_node_path(destination, client_id)}/{CURSOR_NODE}"


def batch_mark_path(destination: str, client_id: int) -> str:
    return f"{client_id_node_path(destination, client_id)}/{BATCH_MARK_NODE}"


def batch_mark_with_id_path(destination: str, client_id: int, batch_id: int) -> str:
    return f"{batch_mark_path(destination, client_id)}/{batch_mark_node(batch_id)}"


def destination_server_running(destination: str) -> str:
    """The server running node of a destination (held by the HA winner)."""
    return f"{destination_path(destination)}/{RUNNING_NODE}"


def destination_client_running(destination: str, client_id: int) -> str:
    """The client running node (one active consumer per client id)."""
    return f"{client_id_node_path(destination, client_id)}/{RUNNING_NODE}"


def destination_cluster_root(destination: str) -> str:
    return f"{destination_path(destination)}/{CLUSTER_NODE}"


def destination_cluster_node(destination: str, address: str) -> str:
    return f"{destination_cluster_root(destination)}/{_name(address, 'server address')}"


def canal_cluster_node(address: str) -> str:
    return f"{CANAL_CLUSTER_ROOT_NODE}/{_name(address, 'server address')}"


def parse_path(destination: str) -> str:
    return f"{destination_path(destination)}/{PARSE_NODE}"


def preferred_path(destination: str) -> str:
    """pycanal's "move here" hint for a destination (see the module docstring)."""
    return f"{destination_path(destination)}/{PREFERRED_NODE}"


def is_client_node(name: str) -> bool:
    """Whether a child of a destination node is a subscription (canal: StringUtils.isNumeric)."""
    return name.isascii() and name.isdigit()


def client_id_of(name: str) -> int:
    """The client id of a subscription node name (canal: Short.valueOf)."""
    if not is_client_node(name) or int(name) not in JAVA_SHORT:
        raise HAError(f"znode {name!r} is not a client id")
    return int(name)


def batch_mark_id(name: str) -> int:
    """The batch id of a mark node name (canal: Long.valueOf of the zero-padded sequence)."""
    if not (name.isascii() and name.isdigit()):
        raise HAError(f"znode {name!r} is not a batch mark")
    return int(name)


def batch_mark_node(batch_id: int) -> str:
    """The mark node name of a batch id: the id left-padded with zeros to 10 digits."""
    if isinstance(batch_id, bool) or not isinstance(batch_id, int) or not 0 <= batch_id < 2**31:
        raise HAError(f"batch id {batch_id!r} cannot be a mark node (canal keeps it as a Java int)")
    return str(batch_id).rjust(BATCH_MARK_WIDTH, "0")
