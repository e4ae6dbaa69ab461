"""What pycanal does with each key a canal user may set: honour it, warn that it is ignored, or refuse.

A setting that is read but not implemented must never be silently accepted (issue 8). At start,
:func:`check_server` and :func:`check_instance` look at what the user *set* (``-D``, environment,
canal.properties, instance.properties; canal's code defaults do not count):

* unknown keys (typos such as ``canal.instance.dbPasswrd``) get one warning each, with the nearest known key;
* keys pycanal reads but does not act on get one warning naming them, unless the value set asks for what
  pycanal does anyway (``canal.instance.parser.parallel = false``, say);
* values that change safety or where the data comes from (an encrypted password, configuration from
  canal-admin, a group of masters) refuse to start with a :class:`~pycanal.errors.ConfigError`.

Each warning is given once per process (an auto-scan restart does not repeat it). Imports: config, errors.
"""

from __future__ import annotations

import difflib
import logging
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from ..errors import ConfigError
from .model import InstanceConfig, ServerConfig

log = logging.getLogger("pycanal.config")

_warned_messages: set[str] = set()  # what was said already, in this process
_warned_lock = threading.Lock()


@dataclass(frozen=True, slots=True)
class Finding:
    """One thing to say about the configuration: ``refuse`` ones stop the start."""

    keys: tuple[str, ...]
    message: str
    refuse: bool = False


def _setting(layers: Iterable[tuple[str, Mapping[str, str]]], key: str) -> tuple[str, str] | None:
    """(value, origin) of an explicitly set, non-blank key, highest layer first."""
    for origin, layer in layers:
        value = layer.get(key)
        if value is not None and value.strip():
            return value.strip(), origin
    return None


def _server_layers(cfg: ServerConfig) -> list[tuple[str, Mapping[str, str]]]:
    return [("-D", cfg.overrides), ("environment", cfg.environ), (cfg.source, cfg.raw)]


def _instance_layers(
    cfg: InstanceConfig, server: ServerConfig, overrides: Mapping[str, str], environ: Mapping[str, str]
) -> list[tuple[str, Mapping[str, str]]]:
    inst_only = {k: v for k, v in cfg.raw.items() if server.raw.get(k) != v}
    return [("-D", overrides), ("environment", environ), (cfg.source, inst_only), (server.source, server.raw)]


def _ignored(
    layers: list[tuple[str, Mapping[str, str]]], keys: Iterable[str], reason: str, fine: Iterable[str] = ()
) -> Finding | None:
    """A warning for the keys set to a value other than ``fine`` ones (compared case-insensitively)."""
    ok = {f.lower() for f in fine}
    hits = []
    for key in keys:
        found = _setting(layers, key)
        if found is not None and found[0].lower() not in ok:
            hits.append((key, found))
    if not hits:
        return None
    shown = ", ".join(f"{k} = {_shown(k, v)} ({origin})" for k, (v, origin) in hits)
    return Finding(tuple(k for k, _ in hits), f"{shown}: {reason}")


def _refuse(layers: list[tuple[str, Mapping[str, str]]], key: str, reason: str, fine: Iterable[str]) -> Finding | None:
    found = _setting(layers, key)
    if found is None or found[0].lower() in {f.lower() for f in fine}:
        return None
    return Finding((key,), f"{found[1]}: {key} = {_shown(key, found[0])}: {reason}", refuse=True)


def _shown(key: str, value: str) -> str:
    """The value for a log line; secrets are not written to logs."""
    low = key.lower()
    if any(word in low for word in ("passw", "secret", "accesskey")):
        return "'***'"
    return repr(value)


def _unknown(source: str, extra: Mapping[str, str], known: Iterable[str]) -> list[Finding]:
    vocabulary = sorted(known)
    out = []
    for key in extra:
        near = difflib.get_close_matches(key, vocabulary, n=1, cutoff=0.8)
        hint = f"; did you mean {near[0]}?" if near else ""
        out.append(Finding((key,), f"{source}: unknown key {key} is ignored{hint}"))
    return out


def server_findings(cfg: ServerConfig, known: Iterable[str] = ()) -> list[Finding]:
    """Everything to say about canal.properties (and its -D / environment overrides)."""
    layers = _server_layers(cfg)
    checks = [
        _refuse(layers, "canal.admin.manager", "configuration from canal-admin (manager mode) is not supported; "
                "configure destinations with instance.properties files", ()),
        _refuse(layers, "canal.instance.global.mode", "manager mode (configuration from canal-admin) is not "
                "supported; use spring", ("spring",)),
        _ignored(layers, ("canal.metrics.pull.port",), "pycanal serves no Prometheus metrics yet; ignored", ("0",)),
        _ignored(layers, ("canal.admin.port", "canal.admin.user", "canal.admin.passwd", "canal.admin.register.auto",
                          "canal.admin.register.cluster", "canal.admin.register.name"),
                 "pycanal has no canal-admin port yet; ignored", ("false",)),
        *_server_mode_findings(cfg, layers),
        _ignored(layers, ("canal.instance.global.lazy",), "lazy start is not implemented: destinations start at "
                 "once", ("false",)),
        _ignored(layers, ("canal.aliyun.accessKey", "canal.aliyun.secretKey", "canal.aliyun.uid"),
                 "Aliyun RDS and cloud MQ access are not supported; ignored"),
    ]  # fmt: skip
    return [f for f in checks if f is not None] + _unknown(cfg.source, cfg.extra, known)


def instance_findings(
    cfg: InstanceConfig,
    server: ServerConfig,
    known: Iterable[str] = (),
    *,
    overrides: Mapping[str, str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> list[Finding]:
    """Everything to say about one destination's settings (instance.properties over canal.properties)."""
    layers = _instance_layers(
        cfg,
        server,
        server.overrides if overrides is None else overrides,
        server.environ if environ is None else environ,
    )
    dest = cfg.destination
    checks = [
        _refuse(layers, "canal.instance.enableDruid", "encrypted passwords (druid ConfigTools) are not supported; "
                "put the password itself in canal.instance.dbPassword", ("false",)),
        _refuse(layers, f"canal.instance.{dest}.mode", "manager mode (configuration from canal-admin) is not "
                "supported; use spring", ("spring",)),
        _refuse(layers, f"canal.instance.{dest}.spring.xml", _XML_REASON, _SUPPORTED_XML),
        _refuse(layers, "canal.instance.global.spring.xml", _XML_REASON, _SUPPORTED_XML),
        _parallel(layers),
        _ignored(layers, ("canal.instance.network.receiveBufferSize", "canal.instance.network.sendBufferSize"),
                 "the MySQL socket keeps the system's buffer sizes; ignored", ("16384",)),
        _ignored(layers, ("canal.instance.network.soTimeout",), "pycanal connects with a 10 s timeout; ignored",
                 ("30", "10")),
        _ignored(layers, ("canal.instance.rds.accesskey", "canal.instance.rds.secretkey",
                          "canal.instance.rds.instanceId"),
                 "binlog backups are not fetched from Aliyun OSS: a purged binlog stops the destination"),
        _ignored(layers, ("canal.instance.multi.stream.on",), "multi-stream binlogs are not supported; ignored",
                 ("false",)),
        _ignored(layers, (f"canal.instance.{dest}.lazy",), "lazy start is not implemented: the destination "
                 "starts at once", ("false",)),
        _partitions(layers, server),
    ]  # fmt: skip
    return [f for f in checks if f is not None] + _unknown(cfg.source, cfg.extra, known)


def _server_mode_findings(cfg: ServerConfig, layers: list[tuple[str, Mapping[str, str]]]) -> list[Finding | None]:
    """TCP mode ignores every MQ key, as canal does (its shipped canal.properties sets many): nothing to say.
    In MQ mode the port is not opened (canal forces canal.withoutNetty) and the MQ keys are read; the few
    pycanal does not act on are named."""
    if cfg.server_mode.lower() == "tcp":
        return [
            _ignored(layers, ("canal.withoutNetty",), "pycanal server always opens canal.port; ignored", ("false",))
        ]
    return [
        _refuse(layers, "canal.mq.accessChannel", "Aliyun cloud MQ access is not supported", ("local",)),
        _ignored(layers, ("canal.mq.send.thread.size", "canal.mq.build.thread.size"),
                 "pycanal builds and publishes each destination's batches in one thread; ignored", ("30", "8")),
    ]  # fmt: skip


def _partitions(layers: list[tuple[str, Mapping[str, str]]], server: ServerConfig) -> Finding | None:
    """RabbitMQ has no partitions: canal's RabbitMQ producer ignores the partition keys, and so does pycanal."""
    if server.server_mode.lower() != "rabbitmq":
        return None
    return _ignored(
        layers,
        ("canal.mq.partition", "canal.mq.partitionsNum", "canal.mq.partitionHash", "canal.mq.dynamicTopicPartitionNum",
         "canal.mq.enableDynamicQueuePartition"),
        "RabbitMQ has no partitions (canal's RabbitMQ producer ignores this too); ignored",
        ("0", "false"),
    )  # fmt: skip


def _parallel(layers: list[tuple[str, Mapping[str, str]]]) -> Finding | None:
    parallel = _setting(layers, "canal.instance.parser.parallel")
    if parallel is None or parallel[0].lower() == "false":
        return None  # the sizes mean nothing without parallel parsing
    return _ignored(
        layers,
        ("canal.instance.parser.parallel", "canal.instance.parser.parallelThreadSize",
         "canal.instance.parser.parallelBufferSize"),
        "pycanal parses each destination in one thread (the entries are the same); ignored",
    )  # fmt: skip


_SUPPORTED_XML = tuple(
    f"{prefix}spring/{name}-instance.xml" for prefix in ("classpath:", "") for name in ("file", "memory", "default")
)
_XML_REASON = (
    "pycanal builds instances as canal's file-, memory- and default-instance.xml do; other instance XMLs "
    "(group of masters, local RDS files, MongoDB, OceanBase) are not supported"
)


def report(findings: Iterable[Finding]) -> None:
    """Warn once per finding per process; raise ConfigError for the first refusal (all are logged)."""
    refusals = []
    for f in findings:
        if f.refuse:
            refusals.append(f)
            continue
        with _warned_lock:
            if f.message in _warned_messages:
                continue
            _warned_messages.add(f.message)
        log.warning("%s", f.message)
    if refusals:
        raise ConfigError("; ".join(f.message for f in refusals))
