"""canal's protobuf messages: the Entry model (EntryProtocol) and the client/server packets (CanalProtocol).

The ``*_pb2.py`` modules are generated from the ``.proto`` files beside them with
``python -m grpc_tools.protoc -I. --python_out=. --pyi_out=. EntryProtocol.proto CanalProtocol.proto``
(grpcio-tools; protoc 35.1), and need protobuf >= 7.35.1 at run time.
"""

from . import CanalProtocol_pb2 as packet
from . import EntryProtocol_pb2 as entry

__all__ = ["entry", "packet"]
