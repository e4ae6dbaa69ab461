"""Loading canal.properties and instance.properties into :mod:`.model` objects (canal-spec.md section 7).

Relative paths (``canal.conf.dir``, ``canal.file.data.dir``, ``canal.instance.tsdb.dir``) resolve against
``<conf_dir>/../bin``, because canal's ``startup.sh`` runs the JVM in ``<canal home>/bin``: the shipped
``../conf`` therefore names the conf dir itself. When ``canal.conf.dir`` is not set at all, the directory
holding ``canal.properties`` is used.
"""

from __future__ import annotations

import codecs
import logging
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import replace
from functools import lru_cache
from typing import Any

from ..errors import ConfigError
from ..mysql import tls
from .lookup import Layer, Reader
from .model import (
    DEFAULT_SPRING_XML,
    DetectingConfig,
    FilterConfig,
    InstanceConfig,
    InstanceMQConfig,
    MemoryConfig,
    MQConfig,
    NetworkConfig,
    ParserConfig,
    RabbitMQConfig,
    RdsConfig,
    ServerConfig,
    SourceConfig,
    SslConfig,
    TsdbConfig,
    spring_flavour,
)
from .properties import load_properties
from .support import instance_findings, report, server_findings

log = logging.getLogger("pycanal.config")

CANAL_PROPERTIES = "canal.properties"
from .scan import INSTANCE_PROPERTIES  # noqa: E402  (one home)

OVERRIDE_ORIGIN = "-D override"
ENV_ORIGIN = "environment variable"

SERVER_MODES = {"tcp": "tcp", "kafka": "kafka", "rocketmq": "rocketmq", "rabbitmq": "rabbitmq", "pulsarmq": "pulsarmq"}
BATCH_MODES = ("MEMSIZE", "ITEMSIZE")
BINLOG_FORMATS = ("ROW", "STATEMENT", "MIXED")
BINLOG_IMAGES = ("FULL", "MINIMAL", "NOBLOB")
INSTANCE_MODES = ("spring", "manager")
SSL_MODES = tls.SSL_MODES
STORE_TYPES = tls.STORE_TYPES
MQ_ACCESS_CHANNELS = ("local", "cloud")
_TSDB_DIR_DEFAULT = "${canal.file.data.dir:../conf}/${canal.instance.destination:}"

# canal.properties keys that other prefixes own wholesale: MQ producer settings are passed through.
_PASS_THROUGH_PREFIXES = ("kafka.", "rocketmq.", "rabbitmq.", "pulsarmq.")
# canal <= 1.1.4 MQ key names that the connectors still translate, and keys canal reads that pycanal ignores.
_OTHER_KNOWN_KEYS = frozenset(
    "canal.mq." + k
    for k in (
        "servers",
        "retries",
        "batchSize",
        "lingerMs",
        "maxRequestSize",
        "bufferMemory",
        "acks",
        "compressionType",
        "producerGroup",
        "vhost",
        "exchange",
        "username",
        "password",
        "aliyunuid",
        "kafka.kerberos.enable",
        "kafka.kerberos.krb5.file",
        "kafka.kerberos.jaas.file",
        "properties",
        "transaction",
        "parallelThreadSize",
        "enableMessageTrace",
        "customizedTraceTopic",
        "namespace",
    )
) | {"canal.socketChannel"}
_PER_DESTINATION_KEY = re.compile(r"canal\.instance\.[^.]+\.(mode|lazy|manager\.address|spring\.xml)")


def _base_dir(conf_dir: str) -> str:
    """canal's working directory: ``<home>/bin``, the sibling of the conf dir (startup.sh cds there)."""
    return os.path.join(os.path.dirname(os.path.abspath(conf_dir)), "bin")


def _defaults_layer(conf_dir: str) -> Layer:
    # Computed defaults visible to placeholders: canal.conf.dir is the conf dir we were given, and the
    # data dir follows it (canal.properties ships canal.file.data.dir = ${canal.conf.dir}).
    return (
        "pycanal default",
        {"canal.conf.dir": os.path.abspath(conf_dir), "canal.file.data.dir": "${canal.conf.dir}"},
    )


def _common(r: Reader, *, tsdb_default: bool) -> dict[str, Any]:
    """The canal.instance.* settings that canal.properties may default and instance.properties override."""
    mem = MemoryConfig(
        buffer_size=r.integer("canal.instance.memory.buffer.size", 16384, power_of_two=True),
        buffer_memunit=r.integer("canal.instance.memory.buffer.memunit", 1024, lo=1),
        batch_mode=r.choice("canal.instance.memory.batch.mode", "MEMSIZE", BATCH_MODES),
        raw_entry=r.boolean("canal.instance.memory.rawEntry", True),
    )
    det = DetectingConfig(
        enable=r.boolean("canal.instance.detecting.enable", False),
        sql=r.text("canal.instance.detecting.sql"),
        interval_s=r.integer("canal.instance.detecting.interval.time", 5, lo=1),
        retry_threshold=r.integer("canal.instance.detecting.retry.threshold", 3, lo=0),
        heartbeat_ha_enable=r.boolean("canal.instance.detecting.heartbeatHaEnable", False),
    )
    net = NetworkConfig(
        receive_buffer_size=r.integer("canal.instance.network.receiveBufferSize", 16384, lo=1),
        send_buffer_size=r.integer("canal.instance.network.sendBufferSize", 16384, lo=1),
        so_timeout_s=r.integer("canal.instance.network.soTimeout", 30, lo=0),
    )
    flt = FilterConfig(
        regex=r.regex("canal.instance.filter.regex", ".*\\..*"),
        black_regex=r.regex("canal.instance.filter.black.regex", "", black=True),
        field=r.text("canal.instance.filter.field"),
        black_field=r.text("canal.instance.filter.black.field"),
        druid_ddl=r.boolean("canal.instance.filter.druid.ddl", True),
        query_dml=r.boolean("canal.instance.filter.query.dml", False),
        query_dcl=r.boolean("canal.instance.filter.query.dcl", False),
        query_ddl=r.boolean("canal.instance.filter.query.ddl", False),
        table_error=r.boolean("canal.instance.filter.table.error", False),
        rows=r.boolean("canal.instance.filter.rows", False),
        transaction_entry=r.boolean("canal.instance.filter.transaction.entry", False),
        dml_insert=r.boolean("canal.instance.filter.dml.insert", False),
        dml_update=r.boolean("canal.instance.filter.dml.update", False),
        dml_delete=r.boolean("canal.instance.filter.dml.delete", False),
    )
    par = ParserConfig(
        parallel=r.boolean("canal.instance.parser.parallel", True),
        parallel_thread_size=r.opt_integer("canal.instance.parser.parallelThreadSize", lo=1),
        parallel_buffer_size=r.integer("canal.instance.parser.parallelBufferSize", 256, power_of_two=True),
    )
    tsdb = TsdbConfig(
        enable=r.boolean("canal.instance.tsdb.enable", tsdb_default),
        dir=r.path("canal.instance.tsdb.dir", _TSDB_DIR_DEFAULT),
        url=r.text("canal.instance.tsdb.url"),
        db_username=r.text("canal.instance.tsdb.dbUsername"),
        db_password=r.text("canal.instance.tsdb.dbPassword"),
        spring_xml=r.text("canal.instance.tsdb.spring.xml"),
        snapshot_interval_h=r.integer("canal.instance.tsdb.snapshot.interval", 24, lo=0),
        snapshot_expire_h=r.integer("canal.instance.tsdb.snapshot.expire", 360, lo=0),
    )
    return {
        "memory": mem,
        "detecting": det,
        "network": net,
        "filter": flt,
        "parser": par,
        "tsdb": tsdb,
        "binlog_formats": r.choices("canal.instance.binlog.format", BINLOG_FORMATS),
        "binlog_images": r.choices("canal.instance.binlog.image", BINLOG_IMAGES),
        "get_ddl_isolation": r.boolean("canal.instance.get.ddl.isolation", False),
        "transaction_size": r.integer("canal.instance.transaction.size", 1024, power_of_two=True),
        "fallback_interval_s": r.integer("canal.instance.fallbackIntervalInSeconds", 60, lo=0),
        "auto_reset_latest_pos_mode": r.boolean("canal.auto.reset.latest.pos.mode", False),
    }


def _prefixed(raw: Mapping[str, str], overrides: Mapping[str, str], prefix: str) -> dict[str, str]:
    merged = {**raw, **overrides}
    return {k[len(prefix) :]: v.strip() for k, v in merged.items() if k.startswith(prefix)}


def _destinations(r: Reader) -> tuple[str, ...]:
    key = "canal.destinations.expr"
    found = r.lookup(key)
    if found is not None:
        m = re.fullmatch(r"([^{}]*)\{\s*(\d+)\s*-\s*(\d+)\s*\}", found[0])
        if not m:
            r.fail(key, found, "expected prefix{N-M}, e.g. example{1-3}")
        names = [f"{m.group(1)}{i}" for i in range(int(m.group(2)), int(m.group(3)) + 1)]
    else:
        key = "canal.destinations"
        found = r.lookup(key)
        if found is None:
            return ()
        names = [n.strip() for n in found[0].split(",") if n.strip()]
    for name in names:
        if not _usable_destination(name):
            r.fail(key, found, f"{name!r} is not a usable instance folder name")
    return tuple(dict.fromkeys(names))  # canal keeps one config per name


def _usable_destination(name: str) -> bool:
    return bool(name) and name not in (".", "..") and not any(c in name for c in ("/", "\\", os.sep))


def _known(key: str) -> bool:
    return (
        key in _known_keys()
        or key in _OTHER_KNOWN_KEYS
        or key.startswith(_PASS_THROUGH_PREFIXES)
        or _PER_DESTINATION_KEY.fullmatch(key) is not None
    )


def load_server_config(
    conf_dir: str | os.PathLike[str],
    overrides: Mapping[str, str] | None = None,
    environ: Mapping[str, str] = os.environ,
) -> ServerConfig:
    """Read ``<conf_dir>/canal.properties``; ``overrides`` are ``-D`` options, ``environ`` the environment.

    Lookup per key: override, environment variable of the same dotted name, file, canal's default.
    """
    conf_dir = os.path.abspath(os.fspath(conf_dir))
    source = os.path.join(conf_dir, CANAL_PROPERTIES)
    raw = load_properties(source)
    overrides = dict(overrides or {})
    layers = [(OVERRIDE_ORIGIN, overrides), (ENV_ORIGIN, environ), (source, raw), _defaults_layer(conf_dir)]
    r = Reader(layers, _base_dir(conf_dir), conf_dir)
    cfg = _parse_server(r, source, conf_dir, raw, overrides, environ)
    cfg = replace(cfg, extra={k: v for k, v in raw.items() if not _known(k)})
    report(server_findings(cfg, _known_keys()))
    return cfg


def _parse_server(
    r: Reader, source: str, conf_dir: str, raw: Mapping[str, str], overrides: dict[str, str], environ: Mapping[str, str]
) -> ServerConfig:
    user = r.opt_text("canal.user")
    passwd = r.hex_password("canal.passwd")
    if user and not passwd:
        raise ConfigError(f"{source}: canal.user is {user!r} but canal.passwd is empty (canal refuses this)")
    admin_manager = r.opt_text("canal.admin.manager")
    mode = r.choice("canal.instance.global.mode", "spring", INSTANCE_MODES)
    if admin_manager:
        mode = "manager"  # canal forces manager mode when canal-admin is configured
    mq = MQConfig(
        flat_message=r.boolean("canal.mq.flatMessage", True),
        canal_batch_size=r.integer("canal.mq.canalBatchSize", 50, lo=1),
        canal_get_timeout_ms=r.integer("canal.mq.canalGetTimeout", 100, lo=0),
        access_channel=r.choice("canal.mq.accessChannel", "local", MQ_ACCESS_CHANNELS),
        database_hash=r.boolean("canal.mq.database.hash", True),
        send_thread_size=r.integer("canal.mq.send.thread.size", 30, lo=1),
        build_thread_size=r.integer("canal.mq.build.thread.size", 8, lo=1),
        kafka=_prefixed(raw, overrides, "kafka."),
        rocketmq=_prefixed(raw, overrides, "rocketmq."),
        pulsarmq=_prefixed(raw, overrides, "pulsarmq."),
        rabbitmq=RabbitMQConfig(
            host=r.text("rabbitmq.host") or r.text("canal.mq.servers"),
            virtual_host=r.text("rabbitmq.virtual.host"),
            exchange=r.text("rabbitmq.exchange"),
            username=r.text("rabbitmq.username"),
            password=r.text("rabbitmq.password"),
            queue=r.text("rabbitmq.queue"),
            routing_key=r.text("rabbitmq.routingKey"),
            delivery_mode=r.text("rabbitmq.deliveryMode"),
        ),
    )
    return ServerConfig(
        source=source,
        conf_dir=r.path("canal.conf.dir", conf_dir),
        id=r.opt_integer("canal.id"),
        ip=r.text("canal.ip"),
        register_ip=r.text("canal.register.ip"),
        port=r.integer("canal.port", 11111, lo=0, hi=65535),
        metrics_pull_port=r.integer("canal.metrics.pull.port", 11112, hi=65535),  # <= 0: no metrics
        user=user,
        passwd=passwd,
        admin_manager=admin_manager,
        admin_port=r.integer("canal.admin.port", 11110, lo=0, hi=65535),
        admin_user=r.text("canal.admin.user", "admin"),
        admin_passwd=r.hex_password("canal.admin.passwd"),
        admin_register_auto=r.boolean("canal.admin.register.auto", False),
        admin_register_cluster=r.text("canal.admin.register.cluster"),
        admin_register_name=r.text("canal.admin.register.name"),
        zk_servers=r.text("canal.zkServers"),
        zookeeper_flush_period_ms=r.integer("canal.zookeeper.flush.period", 1000, lo=1),
        without_netty=r.boolean("canal.withoutNetty", False),
        server_mode=r.choice("canal.serverMode", "tcp", SERVER_MODES),
        file_data_dir=r.path("canal.file.data.dir", "${canal.conf.dir}"),
        file_flush_period_ms=r.integer("canal.file.flush.period", 1000, lo=1),
        **_common(r, tsdb_default=True),
        destinations=_destinations(r),
        auto_scan=r.boolean("canal.auto.scan", True),
        auto_scan_interval_s=r.integer("canal.auto.scan.interval", 5, lo=1),
        global_mode=mode,
        global_lazy=r.boolean("canal.instance.global.lazy", False),
        global_manager_address=r.text("canal.instance.global.manager.address"),
        global_spring_xml=r.text("canal.instance.global.spring.xml", DEFAULT_SPRING_XML),
        aliyun_access_key=r.text("canal.aliyun.accessKey"),
        aliyun_secret_key=r.text("canal.aliyun.secretKey"),
        aliyun_uid=r.text("canal.aliyun.uid"),
        mq=mq,
        raw=dict(raw),
        overrides=overrides,
        environ=environ,
    )


def load_instance_config(
    conf_dir: str | os.PathLike[str],
    destination: str,
    server_config: ServerConfig,
    overrides: Mapping[str, str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> InstanceConfig:
    """Read ``<canal.conf.dir>/<destination>/instance.properties`` overlaid on canal.properties.

    ``conf_dir`` is the folder holding canal.properties; instance folders are in ``server_config.conf_dir``
    (canal.conf.dir, which is that same folder unless configured elsewhere). ``overrides``/``environ``
    default to the ones ``server_config`` was loaded with. A missing
    instance.properties is allowed only when canal.properties (or an override) supplies the master address.
    """
    conf_dir = os.path.abspath(os.fspath(conf_dir))
    if not _usable_destination(destination):
        raise ConfigError(f"bad destination name {destination!r}")
    source = os.path.join(server_config.conf_dir, destination, INSTANCE_PROPERTIES)
    inst = load_properties(source) if os.path.exists(source) else {}
    overrides = dict(server_config.overrides if overrides is None else overrides)
    environ = server_config.environ if environ is None else environ
    layers: list[Layer] = [
        ("destination", {"canal.instance.destination": destination}),
        (OVERRIDE_ORIGIN, overrides),
        (ENV_ORIGIN, environ),
        (source, inst),
        (server_config.source, server_config.raw),
        _defaults_layer(conf_dir),
    ]
    cfg = _parse_instance(Reader(layers, _base_dir(conf_dir), conf_dir), destination, source, server_config)
    extra = {k: v for k, v in inst.items() if not _known(k)}
    cfg = replace(cfg, raw={**server_config.raw, **inst}, extra=extra)
    report(instance_findings(cfg, server_config, _known_keys(), overrides=overrides, environ=environ))
    return cfg


def _source(r: Reader, prefix: str, *, required: bool, where: str) -> SourceConfig | None:
    address = r.address(f"{prefix}.address")
    ssl = _tls_checked(
        r,
        prefix,
        SslConfig(
            mode=r.choice(f"{prefix}.sslMode", "DISABLED", SSL_MODES),
            tls_versions=r.text(f"{prefix}.tlsVersions"),
            trust_store_type=r.choice(f"{prefix}.trustCertificateKeyStoreType", "", STORE_TYPES),
            trust_store_url=r.text(f"{prefix}.trustCertificateKeyStoreUrl"),
            trust_store_password=r.text(f"{prefix}.trustCertificateKeyStorePassword"),
            client_store_type=r.choice(f"{prefix}.clientCertificateKeyStoreType", "", STORE_TYPES),
            client_store_url=r.text(f"{prefix}.clientCertificateKeyStoreUrl"),
            client_store_password=r.text(f"{prefix}.clientCertificateKeyStorePassword"),
        ),
    )
    cfg = SourceConfig(
        address=address,
        journal_name=r.opt_text(f"{prefix}.journal.name"),
        position=r.opt_integer(f"{prefix}.position", lo=0),
        timestamp=r.opt_integer(f"{prefix}.timestamp", lo=0),
        gtid=r.opt_text(f"{prefix}.gtid"),
        ssl=ssl,
    )
    if address is None:
        if required:
            raise ConfigError(f"{where}: {prefix}.address is not set (expected host:port)")
        return None
    return cfg


def _tls_checked(r: Reader, prefix: str, ssl: SslConfig) -> SslConfig:
    """Read the TLS settings' files now, so a bad value refuses to start (docs/tls.md); store paths come
    back resolved against canal's working directory. With sslMode DISABLED nothing is read."""
    if ssl.mode == "DISABLED":
        return ssl

    def check(key: str, step: Callable[[], object]) -> None:
        try:
            step()
        except ConfigError as exc:
            found = r.lookup(key)
            assert found is not None
            r.fail(key, found, str(exc))

    base = r.base_dir
    check(f"{prefix}.tlsVersions", lambda: tls.parse_tls_versions(ssl.tls_versions))
    trust = client = ""
    if ssl.trust_store_url:
        key = f"{prefix}.trustCertificateKeyStoreUrl"
        check(key, lambda: tls.store_path(ssl.trust_store_url, base))
        trust = tls.store_path(ssl.trust_store_url, base)
        check(key, lambda: tls.load_trust_store(trust, ssl.trust_store_type, ssl.trust_store_password))
    if ssl.client_store_url:
        key = f"{prefix}.clientCertificateKeyStoreUrl"
        check(key, lambda: tls.store_path(ssl.client_store_url, base))
        client = tls.store_path(ssl.client_store_url, base)
        check(key, lambda: tls.load_client_store(client, ssl.client_store_type, ssl.client_store_password))
    ssl = replace(ssl, trust_store_url=trust, client_store_url=client)
    # the whole set: the TLS context with its CAs, versions and client certificate
    check(f"{prefix}.sslMode", ssl.tls_settings)
    return ssl


def _parse_instance(
    r: Reader, destination: str, source: str, server: ServerConfig, *, require_master: bool = True
) -> InstanceConfig:
    # per-destination mode keys live in canal.properties (CanalController reads them there)
    if server.admin_manager:
        mode = "manager"  # canal forces manager mode when canal-admin is configured
    else:
        mode = r.choice(f"canal.instance.{destination}.mode", server.global_mode, INSTANCE_MODES)
    lazy = r.boolean(f"canal.instance.{destination}.lazy", server.global_lazy)
    manager = r.text(f"canal.instance.{destination}.manager.address", server.global_manager_address)
    spring_xml = r.text(f"canal.instance.{destination}.spring.xml", server.global_spring_xml)

    charset = r.text("canal.instance.connectionCharset", "UTF-8")
    if charset.lower() == "utf8mb4":
        charset = "UTF-8"  # canal maps MySQL's name to Java's
    try:
        codecs.lookup(charset)
    except LookupError:
        found = r.lookup("canal.instance.connectionCharset")
        assert found is not None
        r.fail("canal.instance.connectionCharset", found, "unknown character set")

    master = _source(r, "canal.instance.master", required=require_master and mode == "spring", where=source)
    standby = _source(r, "canal.instance.standby", required=False, where=source)
    mq = InstanceMQConfig(
        topic=r.text("canal.mq.topic"),
        dynamic_topic=r.text("canal.mq.dynamicTopic"),
        partition=r.integer("canal.mq.partition", 0, lo=0),
        partitions_num=r.opt_integer("canal.mq.partitionsNum", lo=1),
        partition_hash=r.text("canal.mq.partitionHash"),
        dynamic_topic_partition_num=r.text("canal.mq.dynamicTopicPartitionNum"),
        enable_dynamic_queue_partition=r.boolean("canal.mq.enableDynamicQueuePartition", False),
    )
    rds = RdsConfig(
        accesskey=r.text("canal.instance.rds.accesskey") or r.text("canal.aliyun.accessKey"),
        secretkey=r.text("canal.instance.rds.secretkey") or r.text("canal.aliyun.secretKey"),
        instance_id=r.text("canal.instance.rds.instanceId"),
    )
    return InstanceConfig(
        destination=destination,
        source=source,
        master=master or SourceConfig(address=None),
        standby=standby,
        slave_id=r.integer("canal.instance.mysql.slaveId", 0, lo=0, hi=0xFFFFFFFF),
        gtid_on=r.boolean("canal.instance.gtidon", False),
        db_username=r.text("canal.instance.dbUsername", "retl"),
        db_password=r.text("canal.instance.dbPassword", "retl"),
        connection_charset=charset,
        default_database_name=r.text("canal.instance.defaultDatabaseName"),
        enable_druid=r.boolean("canal.instance.enableDruid", False),
        pwd_public_key=r.text("canal.instance.pwdPublicKey", "retl"),
        multi_stream_on=r.boolean("canal.instance.multi.stream.on", False),
        rds=rds,
        **_common(r, tsdb_default=spring_flavour(spring_xml) != "memory"),
        data_dir=r.path("canal.file.data.dir", "${canal.conf.dir}"),
        file_flush_period_ms=r.integer("canal.file.flush.period", 1000, lo=1),
        zookeeper_flush_period_ms=r.integer("canal.zookeeper.flush.period", 1000, lo=1),
        mq=mq,
        mode=mode,
        lazy=lazy,
        manager_address=manager,
        spring_xml=spring_xml,
    )


_EMPTY: Mapping[str, str] = {}


@lru_cache(maxsize=1)
def _known_keys() -> frozenset[str]:
    """Every key the server and an instance read: parse empty sources once with recording readers."""
    server = Reader([], os.getcwd())
    cfg = _parse_server(server, "<none>", os.getcwd(), _EMPTY, {}, _EMPTY)
    instance = Reader([], os.getcwd())
    _parse_instance(instance, "_", "<none>", cfg, require_master=False)
    return frozenset(k for k in server.asked | instance.asked if not k.startswith("canal.instance._."))
