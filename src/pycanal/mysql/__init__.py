"""MySQL client wire protocol and the replication (binlog dump) connection.

``constants``, ``packet`` and ``auth`` are sans-IO (bytes in, bytes out); ``connection`` is the only
module here that opens sockets, ``replication`` drives it through one canal-style dump attempt, and
``meta`` through the metadata queries. ``tls`` turns canal's sslMode and key stores into TLS settings.
"""

from .connection import MySQLConnection
from .meta import MetaConnection
from .replication import ReplicationConnection, binlog_files, show_master_status
from .tls import TlsSettings

__all__ = [
    "MetaConnection",
    "MySQLConnection",
    "ReplicationConnection",
    "TlsSettings",
    "binlog_files",
    "show_master_status",
]
