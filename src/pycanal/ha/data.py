"""The JSON of canal's running nodes (canal-spec.md section 5.2), byte-compatible with fastjson2.

fastjson2 writes keys in alphabetical order and omits nulls, so a server writes
``{"active":true,"address":"10.0.0.1:11111"}`` (older canal added ``"cid":1``) and a client
``{"active":true,"address":"10.0.0.9:53122","clientId":1001}``. The parsers accept what canal's reader
accepts: unknown keys, ``cid``, a missing ``active`` (true by default), numbers and booleans written as
strings. Anything else is an :class:`~pycanal.errors.HAError`. Imports only errors and model.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ..errors import HAError
from ..model import dumps


def _object(data: bytes | str, what: str) -> dict[str, Any]:
    try:
        text = data.decode("utf-8") if isinstance(data, bytes | bytearray) else data
        obj = json.loads(text)
    except (UnicodeDecodeError, ValueError) as exc:
        raise HAError(f"bad {what} JSON {data!r}: {exc}") from exc
    if not isinstance(obj, dict):
        raise HAError(f"bad {what} JSON {data!r}: not an object")
    return obj


def _bool(obj: dict[str, Any], key: str, default: bool, what: str) -> bool:
    value = obj.get(key)
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    if isinstance(value, int):
        return value != 0
    raise HAError(f"bad {what}: {key} = {value!r} is not a boolean")


def _int(obj: dict[str, Any], key: str, what: str) -> int | None:
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, bool):
        raise HAError(f"bad {what}: {key} = {value!r} is not a number")
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        raise HAError(f"bad {what}: {key} = {value!r} is not a number") from exc


def _address(obj: dict[str, Any], what: str) -> str:
    value = obj.get("address")
    if not isinstance(value, str) or not value:
        raise HAError(f"bad {what}: no address in {obj!r}")
    return value


@dataclass(frozen=True, slots=True)
class ServerRunningData:
    """What the HA winner writes into ``/otter/canal/destinations/{dest}/running``.

    ``address`` is ``registerIp:port``; ``active=false`` written by someone else asks the holder to release;
    ``cid`` is the deprecated id of old canal versions (kept when read, written only if set).
    """

    address: str
    active: bool = True
    cid: int | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"active": self.active, "address": self.address}
        if self.cid is not None:
            out["cid"] = self.cid
        return out

    def dumps(self) -> str:
        return dumps(self.to_json())

    def to_bytes(self) -> bytes:
        return self.dumps().encode("utf-8")


def parse_server_running(data: bytes | str) -> ServerRunningData:
    """Read a server running node as canal (or pycanal) wrote it."""
    what = "ServerRunningData"
    obj = _object(data, what)
    return ServerRunningData(_address(obj, what), _bool(obj, "active", True, what), _int(obj, "cid", what))


@dataclass(frozen=True, slots=True)
class ClientRunningData:
    """What the active consumer writes into ``/otter/canal/destinations/{dest}/{clientId}/running``.

    ``address`` is the local IP alone until the client has connected, then ``localIp:localPort``.
    """

    client_id: int
    address: str
    active: bool = True

    def to_json(self) -> dict[str, Any]:
        return {"active": self.active, "address": self.address, "clientId": self.client_id}

    def dumps(self) -> str:
        return dumps(self.to_json())

    def to_bytes(self) -> bytes:
        return self.dumps().encode("utf-8")


def parse_client_running(data: bytes | str) -> ClientRunningData:
    """Read a client running node as canal's ClientRunningMonitor (or pycanal) wrote it."""
    what = "ClientRunningData"
    obj = _object(data, what)
    client_id = _int(obj, "clientId", what)
    if client_id is None:
        raise HAError(f"bad {what}: no clientId in {obj!r}")
    return ClientRunningData(client_id, _address(obj, what), _bool(obj, "active", True, what))
