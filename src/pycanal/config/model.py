"""The typed configuration objects: canal.properties (:class:`ServerConfig`) and one destination
(:class:`InstanceConfig`), with canal's code defaults. Frozen values; loading is :mod:`.load`."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from ..mysql.tls import TlsSettings
from .scan import scan_instance_dirs

DEFAULT_SPRING_XML = "classpath:spring/file-instance.xml"


@dataclass(frozen=True, slots=True)
class HostPort:
    """A ``host:port`` address as canal's SocketAddressEditor reads it (no brackets, last colon splits)."""

    host: str
    port: int

    @classmethod
    def parse(cls, text: str) -> HostPort:
        bare = text.strip().replace("[", "").replace("]", "")
        host, sep, port = bare.rpartition(":")
        if not sep or not host.strip():
            raise ValueError("expected host:port, e.g. 127.0.0.1:3306")
        if not port.strip().isdigit():
            raise ValueError(f"port {port!r} is not a number")
        number = int(port)
        if not 0 < number < 65536:
            raise ValueError(f"port {number} is out of range 1-65535")
        return cls(host.strip(), number)

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


@dataclass(frozen=True, slots=True)
class MemoryConfig:
    """The event store ring buffer (``canal.instance.memory.*``)."""

    buffer_size: int = 16384  # slots, a power of two
    buffer_memunit: int = 1024  # bytes per unit in MEMSIZE mode
    batch_mode: str = "MEMSIZE"  # MEMSIZE or ITEMSIZE
    raw_entry: bool = True


@dataclass(frozen=True, slots=True)
class DetectingConfig:
    """Heartbeat detection and heartbeat HA (``canal.instance.detecting.*``); code defaults from the XML."""

    enable: bool = False
    sql: str = ""
    interval_s: int = 5  # canal.properties ships 3; the XML fallback is 5
    retry_threshold: int = 3
    heartbeat_ha_enable: bool = False


@dataclass(frozen=True, slots=True)
class NetworkConfig:
    """MySQL connection buffers and timeout (``canal.instance.network.*``)."""

    receive_buffer_size: int = 16384
    send_buffer_size: int = 16384
    so_timeout_s: int = 30


@dataclass(frozen=True, slots=True)
class FilterConfig:
    """Table/field filters and parser switches (``canal.instance.filter.*``), canal-spec.md section 6.3."""

    regex: str = ".*\\..*"
    black_regex: str = ""
    field: str = ""
    black_field: str = ""
    druid_ddl: bool = True
    query_dml: bool = False
    query_dcl: bool = False
    query_ddl: bool = False
    table_error: bool = False
    rows: bool = False
    transaction_entry: bool = False
    dml_insert: bool = False
    dml_update: bool = False
    dml_delete: bool = False


@dataclass(frozen=True, slots=True)
class ParserConfig:
    """Parallel parsing (``canal.instance.parser.*``); thread size None = 60% of the CPUs, as canal."""

    parallel: bool = True
    parallel_thread_size: int | None = None
    parallel_buffer_size: int = 256


@dataclass(frozen=True, slots=True)
class TsdbConfig:
    """Table meta history (``canal.instance.tsdb.*``), canal-spec.md section 6.2."""

    enable: bool = True
    dir: str = ""
    url: str = ""
    db_username: str = ""
    db_password: str = ""
    spring_xml: str = ""
    snapshot_interval_h: int = 24
    snapshot_expire_h: int = 360


@dataclass(frozen=True, slots=True)
class RabbitMQConfig:
    """``rabbitmq.*`` producer settings (``canal.mq.servers`` is the pre-1.1.5 name of ``rabbitmq.host``)."""

    host: str = ""
    virtual_host: str = ""
    exchange: str = ""
    username: str = ""
    password: str = ""
    queue: str = ""
    routing_key: str = ""
    delivery_mode: str = ""


@dataclass(frozen=True, slots=True)
class MQConfig:
    """Server-wide MQ settings (``canal.mq.*``) and the producer pass-through maps (prefix stripped)."""

    flat_message: bool = True
    canal_batch_size: int = 50
    canal_get_timeout_ms: int = 100
    access_channel: str = "local"
    database_hash: bool = True
    send_thread_size: int = 30
    build_thread_size: int = 8
    kafka: Mapping[str, str] = field(default_factory=dict)
    rocketmq: Mapping[str, str] = field(default_factory=dict)
    pulsarmq: Mapping[str, str] = field(default_factory=dict)
    rabbitmq: RabbitMQConfig = field(default_factory=RabbitMQConfig)


@dataclass(frozen=True, slots=True)
class InstanceMQConfig:
    """Per-instance MQ routing (``canal.mq.topic`` ...), canal-spec.md sections 8.3 and 8.4."""

    topic: str = ""
    dynamic_topic: str = ""
    partition: int = 0
    partitions_num: int | None = None
    partition_hash: str = ""
    dynamic_topic_partition_num: str = ""
    enable_dynamic_queue_partition: bool = False


@dataclass(frozen=True, slots=True)
class SslConfig:
    """``canal.instance.{master,standby}.sslMode`` and key store settings (docs/tls.md); the store
    URLs are resolved to file paths when loaded."""

    mode: str = "DISABLED"
    tls_versions: str = ""
    trust_store_type: str = ""
    trust_store_url: str = ""
    trust_store_password: str = field(default="", repr=False)
    client_store_type: str = ""
    client_store_url: str = ""
    client_store_password: str = field(default="", repr=False)

    def tls_settings(self) -> TlsSettings | None:
        """The TLS settings of the connections to this server (reads the store files); None if DISABLED."""
        if self.mode == "DISABLED":
            return None
        return TlsSettings.from_key_stores(
            self.mode,
            tls_versions=self.tls_versions,
            trust_url=self.trust_store_url,
            trust_type=self.trust_store_type,
            trust_password=self.trust_store_password,
            client_url=self.client_store_url,
            client_type=self.client_store_type,
            client_password=self.client_store_password,
        )


@dataclass(frozen=True, slots=True)
class SourceConfig:
    """One MySQL server to dump from and the configured start position (``canal.instance.master.*``)."""

    address: HostPort | None
    journal_name: str | None = None
    position: int | None = None
    timestamp: int | None = None  # ms
    gtid: str | None = None
    ssl: SslConfig = field(default_factory=SslConfig)


@dataclass(frozen=True, slots=True)
class RdsConfig:
    """Aliyun RDS OSS binlog backfill (``canal.instance.rds.*``, falling back to ``canal.aliyun.*``)."""

    accesskey: str = ""
    secretkey: str = ""
    instance_id: str = ""


@dataclass(frozen=True)
class ServerConfig:
    """canal.properties: the server, and the ``canal.instance.*`` defaults every instance starts from."""

    source: str  # path of canal.properties
    conf_dir: str  # canal.conf.dir, absolute: where instance folders live
    id: int | None = None
    ip: str = ""
    register_ip: str = ""
    port: int = 11111
    metrics_pull_port: int = 11112
    user: str | None = None
    passwd: str | None = None  # hex SHA1(SHA1(password))
    admin_manager: str | None = None
    admin_port: int = 11110
    admin_user: str = "admin"
    admin_passwd: str | None = None
    admin_register_auto: bool = False
    admin_register_cluster: str = ""
    admin_register_name: str = ""
    zk_servers: str = ""
    zookeeper_flush_period_ms: int = 1000
    without_netty: bool = False
    server_mode: str = "tcp"
    file_data_dir: str = ""
    file_flush_period_ms: int = 1000
    memory: MemoryConfig = field(default_factory=MemoryConfig)
    detecting: DetectingConfig = field(default_factory=DetectingConfig)
    network: NetworkConfig = field(default_factory=NetworkConfig)
    filter: FilterConfig = field(default_factory=FilterConfig)
    parser: ParserConfig = field(default_factory=ParserConfig)
    tsdb: TsdbConfig = field(default_factory=TsdbConfig)
    binlog_formats: tuple[str, ...] = ()
    binlog_images: tuple[str, ...] = ()
    get_ddl_isolation: bool = False
    transaction_size: int = 1024
    fallback_interval_s: int = 60
    auto_reset_latest_pos_mode: bool = False
    destinations: tuple[str, ...] = ()  # as configured (canal.destinations or canal.destinations.expr)
    auto_scan: bool = True
    auto_scan_interval_s: int = 5
    global_mode: str = "spring"
    global_lazy: bool = False
    global_manager_address: str = ""
    global_spring_xml: str = DEFAULT_SPRING_XML
    aliyun_access_key: str = ""
    aliyun_secret_key: str = ""
    aliyun_uid: str = ""
    mq: MQConfig = field(default_factory=MQConfig)
    raw: Mapping[str, str] = field(default_factory=dict)  # canal.properties as written
    extra: Mapping[str, str] = field(default_factory=dict)  # the keys pycanal does not know
    overrides: Mapping[str, str] = field(default_factory=dict, repr=False)
    environ: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)

    def resolve_destinations(self) -> tuple[str, ...]:
        """The instances to start: ``canal.destinations``, or with it empty and auto scan on, the conf dir's
        instance folders (what canal's scanner would start on its first pass)."""
        if self.destinations:
            return self.destinations
        if self.auto_scan:
            return tuple(scan_instance_dirs(self.conf_dir))
        return ()


@dataclass(frozen=True)
class InstanceConfig:
    """One destination: instance.properties overlaid on canal.properties, with canal's XML defaults."""

    destination: str
    source: str  # path of instance.properties
    master: SourceConfig
    standby: SourceConfig | None = None
    slave_id: int = 0  # 0 = derive one, as canal does
    gtid_on: bool = False
    db_username: str = "retl"  # the XML fallback; the shipped instance.properties says canal
    db_password: str = "retl"
    connection_charset: str = "UTF-8"
    default_database_name: str = ""
    enable_druid: bool = False
    pwd_public_key: str = "retl"
    multi_stream_on: bool = False
    rds: RdsConfig = field(default_factory=RdsConfig)
    filter: FilterConfig = field(default_factory=FilterConfig)
    memory: MemoryConfig = field(default_factory=MemoryConfig)
    detecting: DetectingConfig = field(default_factory=DetectingConfig)
    network: NetworkConfig = field(default_factory=NetworkConfig)
    parser: ParserConfig = field(default_factory=ParserConfig)
    tsdb: TsdbConfig = field(default_factory=TsdbConfig)
    binlog_formats: tuple[str, ...] = ()
    binlog_images: tuple[str, ...] = ()
    get_ddl_isolation: bool = False
    transaction_size: int = 1024
    fallback_interval_s: int = 60
    auto_reset_latest_pos_mode: bool = False
    data_dir: str = ""  # canal.file.data.dir: meta.dat lives in <data_dir>/<destination>/
    file_flush_period_ms: int = 1000
    zookeeper_flush_period_ms: int = 1000
    mq: InstanceMQConfig = field(default_factory=InstanceMQConfig)
    mode: str = "spring"
    lazy: bool = False
    manager_address: str = ""
    spring_xml: str = DEFAULT_SPRING_XML
    raw: Mapping[str, str] = field(default_factory=dict)  # canal.properties + instance.properties as written
    extra: Mapping[str, str] = field(default_factory=dict)  # instance.properties keys pycanal does not know

    @property
    def meta_flavour(self) -> str | None:
        """``file``, ``default`` (ZooKeeper), ``memory`` or ``group`` for canal's stock instance XMLs."""
        return spring_flavour(self.spring_xml)

    @property
    def meta_dir(self) -> str:
        """Where canal's FileMixedMetaManager keeps ``meta.dat`` for this destination."""
        return os.path.join(self.data_dir, self.destination)


def spring_flavour(spring_xml: str) -> str | None:
    m = re.fullmatch(r"(?:classpath:)?(?:.*/)?(file|default|memory|group)-instance\.xml", spring_xml.strip())
    return m.group(1) if m else None
