"""canal's client side: connectors that speak canal's TCP protocol to a canal server (Java or pycanal).

``SimpleConnector`` talks to one server; ``Connector`` is the interface a cluster connector shares.
Entries arrive as canal's protobuf ``Entry`` objects (:mod:`pycanal.protocol.entry`);
:func:`pycanal.protocol.flat.flat_messages` turns a batch into canal FlatMessage dicts and
:mod:`pycanal.client.printer` prints Entries the way canal's example client does.
"""

from .base import AddressProvider, Connector, LiveConnection, Message, static_address
from .simple import SimpleConnector

__all__ = ["AddressProvider", "Connector", "LiveConnection", "Message", "SimpleConnector", "static_address"]
