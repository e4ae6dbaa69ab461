"""canal.properties / instance.properties -> typed config objects, with canal's lookup rules and defaults.

Three parts (canal-spec.md section 7):

* :func:`parse_properties` reads Java ``.properties`` text exactly as ``java.util.Properties.load`` does
  (separators ``=``/``:``/whitespace, ``#``/``!`` comments, backslash continuations, ``\\t \\n \\uXXXX``
  escapes, any other ``\\x`` -> ``x``), so a file copied from a canal install means the same thing here.
* Every key is looked up like canal's ``CanalController.getProperty`` and its Spring placeholder configurer:
  a ``-D`` override, then an environment variable with the same dotted name, then ``instance.properties``
  (for an instance), then ``canal.properties``, then canal's code default. A blank value counts as unset
  (Spring falls through on blank), values are trimmed, and ``${name:default}`` placeholders are expanded
  through the same layers.
* :func:`load_server_config` / :func:`load_instance_config` build frozen dataclasses; a known key with a
  malformed value raises :class:`~pycanal.errors.ConfigError` naming where the value came from, the key and
  the value. Unknown keys are kept in ``raw`` / ``extra`` and logged at debug, as canal ignores them.

Relative paths (``canal.conf.dir``, ``canal.file.data.dir``, ``canal.instance.tsdb.dir``) resolve against
``<conf_dir>/../bin``, because canal's ``startup.sh`` runs the JVM in ``<canal home>/bin``: the shipped
``../conf`` therefore names the conf dir itself. When ``canal.conf.dir`` is not set at all, the directory
holding ``canal.properties`` is used.

:class:`InstanceScanner` is canal's ``canal.auto.scan``: it notices instance folders appearing, disappearing
and changing, and calls back.
"""

from __future__ import annotations

import codecs
import hashlib
import logging
import os
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any, NoReturn

from .errors import ConfigError
from .filter import RegexFilter

log = logging.getLogger(__name__)

CANAL_PROPERTIES = "canal.properties"
INSTANCE_PROPERTIES = "instance.properties"
OVERRIDE_ORIGIN = "-D override"
ENV_ORIGIN = "environment variable"

SERVER_MODES = {"tcp": "tcp", "kafka": "kafka", "rocketmq": "rocketmq", "rabbitmq": "rabbitmq",
                "pulsarmq": "pulsarmq"}
BATCH_MODES = ("MEMSIZE", "ITEMSIZE")
BINLOG_FORMATS = ("ROW", "STATEMENT", "MIXED")
BINLOG_IMAGES = ("FULL", "MINIMAL", "NOBLOB")
INSTANCE_MODES = ("spring", "manager")
SSL_MODES = ("DISABLED", "PREFERRED", "REQUIRED", "VERIFY_CA", "VERIFY_IDENTITY")
MQ_ACCESS_CHANNELS = ("local", "cloud")
DEFAULT_SPRING_XML = "classpath:spring/file-instance.xml"
_TSDB_DIR_DEFAULT = "${canal.file.data.dir:../conf}/${canal.instance.destination:}"

# canal.properties keys that other prefixes own wholesale: MQ producer settings are passed through.
_PASS_THROUGH_PREFIXES = ("kafka.", "rocketmq.", "rabbitmq.", "pulsarmq.")
# canal <= 1.1.4 MQ key names that the connectors still translate, and keys canal reads that pycanal ignores.
_OTHER_KNOWN_KEYS = frozenset(
    "canal.mq." + k for k in ("servers", "retries", "batchSize", "lingerMs", "maxRequestSize", "bufferMemory",
                              "acks", "compressionType", "producerGroup", "vhost", "exchange", "username",
                              "password", "aliyunuid", "kafka.kerberos.enable", "kafka.kerberos.krb5.file",
                              "kafka.kerberos.jaas.file", "properties", "transaction", "parallelThreadSize",
                              "enableMessageTrace", "customizedTraceTopic", "namespace")
) | {"canal.socketChannel"}
_PER_DESTINATION_KEY = re.compile(r"canal\.instance\.[^.]+\.(mode|lazy|manager\.address|spring\.xml)")
_HEX40 = re.compile(r"[0-9a-fA-F]{40}")
_INTEGER = re.compile(r"([+-]?)(?:0[xX]([0-9a-fA-F]+)|([0-9]+))", re.ASCII)


# --------------------------------------------------------------------------------------------------
# java.util.Properties


_LINE_BREAK = re.compile(r"(\r\n|\r|\n)")  # not str.splitlines: \f, \v, \x1c.. are not line breaks here
_WHITESPACE = " \t\f"


def parse_properties(text: str, source: str = "<string>") -> dict[str, str]:
    """Keys and values of Java ``.properties`` text, with ``java.util.Properties.load`` semantics.

    ``source`` only names the text in error messages. A malformed ``\\uXXXX`` escape raises ConfigError
    (Java throws IllegalArgumentException). Later duplicates win, as in Java.
    """
    props: dict[str, str] = {}
    parts = _LINE_BREAK.split(text)
    lines, breaks = parts[::2], [*parts[1::2], ""]
    i = 0
    while i < len(lines):
        lineno = i + 1
        line = lines[i].lstrip(_WHITESPACE)
        i += 1
        if not line or line[0] in "#!":
            continue  # comments never continue onto the next line
        pieces: list[str] = []
        at_eof = False
        while _ends_with_odd_backslashes(line):
            pieces.append(line[:-1])
            # A continuation that meets the end of input just drops the backslash. (Java then keeps even
            # an empty line, as key "", unless a \r\n came first: its reader looks ahead one character.)
            if i >= len(lines) or (i == len(lines) - 1 and not lines[i] and breaks[i - 1] != "\r\n"):
                line, at_eof, i = "", True, len(lines)
                break
            line = lines[i].lstrip(_WHITESPACE)  # leading whitespace of a continuation line is dropped
            i += 1
            if not line:
                break  # an empty continuation line ends the logical line
            if line[0] in "#!" and not any(pieces):
                line = ""  # nothing gathered yet, so (as in Java 9+) this is a comment line
                break
        pieces.append(line)
        logical = "".join(pieces)
        if not logical and not at_eof:
            continue  # e.g. a line holding only a backslash, then a blank line
        key, value = _split_key_value(logical)
        where = f"{source}:{lineno}"
        props[_unescape(key, where)] = _unescape(value, where)
    return props


def _ends_with_odd_backslashes(line: str) -> bool:
    n = len(line) - len(line.rstrip("\\"))
    return n % 2 == 1


def _split_key_value(line: str) -> tuple[str, str]:
    """Split at the first unescaped ``=``, ``:`` or whitespace; one ``=``/``:`` after whitespace is eaten."""
    key_end = len(line)
    value_start = len(line)
    has_sep = False
    backslash = False
    for pos, ch in enumerate(line):
        if not backslash and ch in "=:":
            key_end, value_start, has_sep = pos, pos + 1, True
            break
        if not backslash and ch in _WHITESPACE:
            key_end, value_start = pos, pos + 1
            break
        backslash = (not backslash) if ch == "\\" else False
    while value_start < len(line):
        ch = line[value_start]
        if ch not in _WHITESPACE:
            if has_sep or ch not in "=:":
                break
            has_sep = True
        value_start += 1
    return line[:key_end], line[value_start:]


_SIMPLE_ESCAPES = {"t": "\t", "n": "\n", "r": "\r", "f": "\f"}


def _unescape(text: str, where: str) -> str:
    if "\\" not in text:
        return text
    out: list[str] = []
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        i += 1
        if ch != "\\":
            out.append(ch)
            continue
        if i >= n:
            break  # cannot happen after continuation handling; Java would drop it too
        ch = text[i]
        i += 1
        if ch == "u":
            digits = text[i : i + 4]
            if len(digits) != 4 or any(c not in "0123456789abcdefABCDEF" for c in digits):
                raise ConfigError(f"{where}: malformed \\uxxxx escape in {text!r}")
            out.append(chr(int(digits, 16)))
            i += 4
        else:
            out.append(_SIMPLE_ESCAPES.get(ch, ch))
    result = "".join(out)
    if any("\ud800" <= c <= "\udfff" for c in result):
        # \uD83D\uDE00 is one character written as a UTF-16 pair, as Java sees it
        result = result.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "surrogatepass")
    return result


def load_properties(path: str | os.PathLike[str]) -> dict[str, str]:
    """Read and parse a ``.properties`` file: UTF-8 (BOM tolerated), ISO-8859-1 if it is not valid UTF-8."""
    path = os.fspath(path)
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from exc
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("iso-8859-1")  # what java.util.Properties.load(InputStream) assumes
    return parse_properties(text, source=path)


def parse_overrides(items: Iterable[str]) -> dict[str, str]:
    """``-D key=value`` command line items -> a dict; the value is taken as is (no escapes)."""
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"-D {item!r}: expected key=value")
        out[key.strip()] = value
    return out


# --------------------------------------------------------------------------------------------------
# Layered lookup with placeholders


_Layer = tuple[str, Mapping[str, str]]  # (origin shown in errors, key -> value)


class _Reader:
    """Typed lookups over layers, highest first; remembers which keys were asked for (the known keys)."""

    def __init__(self, layers: list[_Layer], base_dir: str) -> None:
        self.layers = layers
        self.base_dir = base_dir
        self.asked: set[str] = set()

    # raw access --------------------------------------------------------------------------------------

    def find(self, key: str) -> tuple[str, str] | None:
        """(value as written, origin) from the highest layer with a non-blank value."""
        for origin, mapping in self.layers:
            value = mapping.get(key)
            if value is not None and value.strip():
                return value, origin
        return None

    def expand(self, text: str, key: str, origin: str, seen: tuple[str, ...] = ()) -> str:
        """Expand ``${name:default}`` as canal's Spring placeholder configurer does (nested, recursive)."""
        out: list[str] = []
        pos = 0
        while True:
            start = text.find("${", pos)
            end = _placeholder_end(text, start + 2) if start >= 0 else -1
            if end < 0:
                out.append(text[pos:])
                return "".join(out)
            out.append(text[pos:start])
            inner = self.expand(text[start + 2 : end], key, origin, seen)
            name, sep, default = inner.partition(":")
            name = name.strip()
            if name in seen or name == key:
                raise ConfigError(f"{origin}: {key}: circular placeholder reference ${{{name}}} in {text!r}")
            found = self.find(name)
            if found is not None:
                value = self.expand(found[0], key, origin, (*seen, name)).strip()
            else:
                value = default.strip() if sep else ""  # unresolvable and no default: "" (canal's configurer)
            out.append(value)
            pos = end + 1

    def lookup(self, key: str) -> tuple[str, str, str] | None:
        """(resolved trimmed value, value as written, origin), or None when unset or blank after expansion."""
        self.asked.add(key)
        found = self.find(key)
        if found is None:
            return None
        written, origin = found
        value = self.expand(written, key, origin, (key,)).strip()
        if not value:
            return None
        return value, written, origin

    def fail(self, key: str, found: tuple[str, str, str], reason: str) -> NoReturn:
        value, written, origin = found
        shown = repr(written.strip())
        if value != written.strip():
            shown += f" (resolved to {value!r})"
        raise ConfigError(f"{origin}: bad value for {key}: {shown}: {reason}")

    # typed access ------------------------------------------------------------------------------------

    def text(self, key: str, default: str = "") -> str:
        found = self.lookup(key)
        if found is not None:
            return found[0]
        if "${" in default:
            return self.expand(default, key, "canal default").strip()
        return default

    def opt_text(self, key: str) -> str | None:
        found = self.lookup(key)
        return None if found is None else found[0]

    def integer(self, key: str, default: int, *, lo: int | None = None, hi: int | None = None,
                power_of_two: bool = False) -> int:
        value = self.opt_integer(key, lo=lo, hi=hi, power_of_two=power_of_two)
        return default if value is None else value

    def opt_integer(self, key: str, *, lo: int | None = None, hi: int | None = None,
                    power_of_two: bool = False) -> int | None:
        found = self.lookup(key)
        if found is None:
            return None
        m = _INTEGER.fullmatch(found[0])  # Spring's number conversion: optional sign, decimal or 0x hex
        if not m:
            self.fail(key, found, "not an integer")
        value = int(m.group(2), 16) if m.group(2) else int(m.group(3))
        if m.group(1) == "-":
            value = -value
        if lo is not None and value < lo:
            self.fail(key, found, f"must be >= {lo}")
        if hi is not None and value > hi:
            self.fail(key, found, f"must be <= {hi}")
        if power_of_two and (value <= 0 or value & (value - 1)):
            self.fail(key, found, "must be a power of two")
        return value

    def boolean(self, key: str, default: bool) -> bool:
        found = self.lookup(key)
        if found is None:
            return default
        low = found[0].lower()
        if low in ("true", "on", "yes", "1"):  # Spring's CustomBooleanEditor
            return True
        if low in ("false", "off", "no", "0"):
            return False
        self.fail(key, found, "not a boolean (true/false)")

    def choice(self, key: str, default: str, choices: Iterable[str]) -> str:
        found = self.lookup(key)
        if found is None:
            return default
        by_lower = {c.lower(): c for c in choices}
        try:
            return by_lower[found[0].lower()]
        except KeyError:
            self.fail(key, found, f"must be one of {', '.join(by_lower.values())}")

    def choices(self, key: str, choices: Iterable[str]) -> tuple[str, ...]:
        """A comma list of choices; unset = empty tuple (canal then checks nothing)."""
        found = self.lookup(key)
        if found is None:
            return ()
        by_lower = {c.lower(): c for c in choices}
        out: list[str] = []
        for item in found[0].split(","):
            item = item.strip()
            if not item:
                continue
            if item.lower() not in by_lower:
                self.fail(key, found, f"{item!r} is not one of {', '.join(by_lower.values())}")
            out.append(by_lower[item.lower()])
        return tuple(out)

    def address(self, key: str) -> HostPort | None:
        found = self.lookup(key)
        if found is None:
            return None
        try:
            return HostPort.parse(found[0])
        except ValueError as exc:
            self.fail(key, found, str(exc))

    def path(self, key: str, default: str) -> str:
        value = self.text(key, default)
        return os.path.normpath(os.path.join(self.base_dir, os.path.expanduser(value)))

    def regex(self, key: str, default: str, *, black: bool = False) -> str:
        found = self.lookup(key)
        if found is None:
            return default
        try:
            RegexFilter(found[0], black=black)
        except ConfigError as exc:
            self.fail(key, found, f"bad table filter regex: {exc.__cause__ or exc}")
        return found[0]

    def hex_password(self, key: str) -> str | None:
        found = self.lookup(key)
        if found is None:
            return None
        if not _HEX40.fullmatch(found[0]):
            self.fail(key, found, "must be the 40 hex digits of SHA1(SHA1(password)), as canal stores it")
        return found[0]


def _placeholder_end(text: str, pos: int) -> int:
    """Index of the ``}`` closing a placeholder whose body starts at ``pos``; nested braces count."""
    depth = 0
    while pos < len(text):
        ch = text[pos]
        if ch == "{":
            depth += 1
        elif ch == "}":
            if depth == 0:
                return pos
            depth -= 1
        pos += 1
    return -1


# --------------------------------------------------------------------------------------------------
# Typed config objects


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
    """``canal.instance.{master,standby}.sslMode`` and key store settings."""

    mode: str = "DISABLED"
    tls_versions: str = ""
    trust_store_type: str = ""
    trust_store_url: str = ""
    trust_store_password: str = ""
    client_store_type: str = ""
    client_store_url: str = ""
    client_store_password: str = ""


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
        return _spring_flavour(self.spring_xml)

    @property
    def meta_dir(self) -> str:
        """Where canal's FileMixedMetaManager keeps ``meta.dat`` for this destination."""
        return os.path.join(self.data_dir, self.destination)


def _spring_flavour(spring_xml: str) -> str | None:
    m = re.fullmatch(r"(?:classpath:)?(?:.*/)?(file|default|memory|group)-instance\.xml", spring_xml.strip())
    return m.group(1) if m else None


# --------------------------------------------------------------------------------------------------
# Loading


def _base_dir(conf_dir: str) -> str:
    """canal's working directory: ``<home>/bin``, the sibling of the conf dir (startup.sh cds there)."""
    return os.path.join(os.path.dirname(os.path.abspath(conf_dir)), "bin")


def _defaults_layer(conf_dir: str) -> _Layer:
    # Computed defaults visible to placeholders: canal.conf.dir is the conf dir we were given, and the
    # data dir follows it (canal.properties ships canal.file.data.dir = ${canal.conf.dir}).
    return ("pycanal default", {"canal.conf.dir": os.path.abspath(conf_dir),
                                "canal.file.data.dir": "${canal.conf.dir}"})


def _common(r: _Reader, *, tsdb_default: bool) -> dict[str, Any]:
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
        "memory": mem, "detecting": det, "network": net, "filter": flt, "parser": par, "tsdb": tsdb,
        "binlog_formats": r.choices("canal.instance.binlog.format", BINLOG_FORMATS),
        "binlog_images": r.choices("canal.instance.binlog.image", BINLOG_IMAGES),
        "get_ddl_isolation": r.boolean("canal.instance.get.ddl.isolation", False),
        "transaction_size": r.integer("canal.instance.transaction.size", 1024, power_of_two=True),
        "fallback_interval_s": r.integer("canal.instance.fallbackIntervalInSeconds", 60, lo=0),
        "auto_reset_latest_pos_mode": r.boolean("canal.auto.reset.latest.pos.mode", False),
    }


def _prefixed(raw: Mapping[str, str], overrides: Mapping[str, str], prefix: str) -> dict[str, str]:
    merged = {**raw, **overrides}
    return {k[len(prefix):]: v.strip() for k, v in merged.items() if k.startswith(prefix)}


def _destinations(r: _Reader) -> tuple[str, ...]:
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
    return (key in _known_keys() or key in _OTHER_KNOWN_KEYS or key.startswith(_PASS_THROUGH_PREFIXES)
            or _PER_DESTINATION_KEY.fullmatch(key) is not None)


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
    r = _Reader(layers, _base_dir(conf_dir))
    cfg = _parse_server(r, source, conf_dir, raw, overrides, environ)
    extra = {k: v for k, v in raw.items() if not _known(k)}
    for key in extra:
        log.debug("%s: ignoring unknown key %s", source, key)
    return replace(cfg, extra=extra)


def _parse_server(r: _Reader, source: str, conf_dir: str, raw: Mapping[str, str], overrides: dict[str, str],
                  environ: Mapping[str, str]) -> ServerConfig:
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
    """Read ``<conf_dir>/<destination>/instance.properties`` overlaid on canal.properties.

    ``overrides``/``environ`` default to the ones ``server_config`` was loaded with. A missing
    instance.properties is allowed only when canal.properties (or an override) supplies the master address.
    """
    conf_dir = os.path.abspath(os.fspath(conf_dir))
    if not _usable_destination(destination):
        raise ConfigError(f"bad destination name {destination!r}")
    source = os.path.join(conf_dir, destination, INSTANCE_PROPERTIES)
    inst = load_properties(source) if os.path.exists(source) else {}
    overrides = dict(server_config.overrides if overrides is None else overrides)
    environ = server_config.environ if environ is None else environ
    layers: list[_Layer] = [
        ("destination", {"canal.instance.destination": destination}),
        (OVERRIDE_ORIGIN, overrides),
        (ENV_ORIGIN, environ),
        (source, inst),
        (server_config.source, server_config.raw),
        _defaults_layer(conf_dir),
    ]
    cfg = _parse_instance(_Reader(layers, _base_dir(conf_dir)), destination, source, server_config)
    extra = {k: v for k, v in inst.items() if not _known(k)}
    for key in extra:
        log.debug("%s: ignoring unknown key %s", source, key)
    return replace(cfg, raw={**server_config.raw, **inst}, extra=extra)


def _source(r: _Reader, prefix: str, *, required: bool, where: str) -> SourceConfig | None:
    address = r.address(f"{prefix}.address")
    ssl = SslConfig(
        mode=r.choice(f"{prefix}.sslMode", "DISABLED", SSL_MODES),
        tls_versions=r.text(f"{prefix}.tlsVersions"),
        trust_store_type=r.text(f"{prefix}.trustCertificateKeyStoreType"),
        trust_store_url=r.text(f"{prefix}.trustCertificateKeyStoreUrl"),
        trust_store_password=r.text(f"{prefix}.trustCertificateKeyStorePassword"),
        client_store_type=r.text(f"{prefix}.clientCertificateKeyStoreType"),
        client_store_url=r.text(f"{prefix}.clientCertificateKeyStoreUrl"),
        client_store_password=r.text(f"{prefix}.clientCertificateKeyStorePassword"),
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


def _parse_instance(r: _Reader, destination: str, source: str, server: ServerConfig, *,
                    require_master: bool = True) -> InstanceConfig:
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

    master = _source(r, "canal.instance.master", required=require_master and mode == "spring",
                     where=source)
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
        **_common(r, tsdb_default=_spring_flavour(spring_xml) != "memory"),
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
    server = _Reader([], os.getcwd())
    cfg = _parse_server(server, "<none>", os.getcwd(), _EMPTY, {}, _EMPTY)
    instance = _Reader([], os.getcwd())
    _parse_instance(instance, "_", "<none>", cfg, require_master=False)
    return frozenset(k for k in server.asked | instance.asked if not k.startswith("canal.instance._."))


# --------------------------------------------------------------------------------------------------
# Auto scan


def _is_instance_dir(name: str) -> bool:
    return name.lower() != "spring"


def _instance_file(dir_path: str) -> str | None:
    """The folder's instance.properties (name compared case-insensitively, as canal does), or None."""
    try:
        names = os.listdir(dir_path)
    except OSError:
        return None
    for name in sorted(names):
        if name.lower() == INSTANCE_PROPERTIES:
            path = os.path.join(dir_path, name)
            if os.path.isfile(path):
                return path
    return None


def scan_instance_dirs(conf_dir: str | os.PathLike[str]) -> list[str]:
    """Sub-folders of ``conf_dir`` (except ``spring``) holding an instance.properties, sorted."""
    conf_dir = os.fspath(conf_dir)
    try:
        entries = sorted(os.scandir(conf_dir), key=lambda e: e.name)
    except OSError:
        return []
    return [e.name for e in entries
            if e.is_dir() and _is_instance_dir(e.name) and _instance_file(e.path) is not None]


_Fingerprint = tuple[int, int, str]  # (mtime ns, size, sha256 of the content)


def _fingerprint(path: str) -> _Fingerprint | None:
    try:
        st = os.stat(path)
        with open(path, "rb") as fh:
            digest = hashlib.sha256(fh.read()).hexdigest()
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size, digest)


class InstanceScanner:
    """canal's ``canal.auto.scan``: watch ``<conf_dir>/*/instance.properties`` and call back.

    A new folder with an instance.properties -> ``on_start(dest)``; a folder gone, or its instance.properties
    gone -> ``on_stop(dest)``; an instance.properties whose mtime, size or content changed ->
    ``on_restart(dest)`` (canal stops and starts the instance). A failed start is retried on the next scan,
    a failed stop too; a failed restart is not repeated until the file changes again (all as canal).
    Destinations passed in ``known`` (canal.destinations already started by the caller) are adopted on
    the first scan without a callback; if their folder is missing they are stopped, as canal does.
    A missing conf dir changes nothing.
    """

    def __init__(
        self,
        conf_dir: str | os.PathLike[str],
        interval_s: float = 5.0,
        on_start: Callable[[str], object] | None = None,
        on_stop: Callable[[str], object] | None = None,
        on_restart: Callable[[str], object] | None = None,
        *,
        known: Iterable[str] = (),
    ) -> None:
        if interval_s <= 0:
            raise ConfigError(f"auto scan interval must be > 0 seconds, not {interval_s!r}")
        self.conf_dir = os.fspath(conf_dir)
        self.interval_s = float(interval_s)
        self._on_start = on_start or (lambda _d: None)
        self._on_stop = on_stop or (lambda _d: None)
        self._on_restart = on_restart or (lambda _d: None)
        # destination -> fingerprint of its instance.properties (None = adopted, not yet seen)
        self._active: dict[str, _Fingerprint | None] = dict.fromkeys(known)
        self._lock = threading.RLock()  # callbacks may read .active
        self._stop_event = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def active(self) -> frozenset[str]:
        """The destinations the scanner considers started."""
        with self._lock:
            return frozenset(self._active)

    def register(self, destination: str) -> None:
        """Adopt a destination started elsewhere, so the scanner does not start it again."""
        with self._lock:
            self._active.setdefault(destination, None)

    def scan_once(self) -> list[tuple[str, str]]:
        """One pass; returns the callbacks made, as ``("start"|"stop"|"restart", destination)`` in order."""
        with self._lock:
            return self._scan()

    def _scan(self) -> list[tuple[str, str]]:
        done: list[tuple[str, str]] = []
        if not os.path.isdir(self.conf_dir):
            return done
        present: set[str] = set()
        try:
            entries = sorted(os.scandir(self.conf_dir), key=lambda e: e.name)
        except OSError as exc:
            log.error("auto scan of %s failed: %s", self.conf_dir, exc)
            return done
        for entry in entries:
            if not entry.is_dir() or not _is_instance_dir(entry.name):
                continue
            dest = entry.name
            present.add(dest)
            path = _instance_file(entry.path)
            fp = _fingerprint(path) if path else None
            if dest not in self._active:
                if fp is not None and self._call(self._on_start, "start", dest):
                    self._active[dest] = fp
                    done.append(("start", dest))
            elif fp is None:
                self._stop(dest, done)
            else:
                last = self._active[dest]
                changed = last is not None and last != fp
                if changed and self._call(self._on_restart, "restart", dest):
                    done.append(("restart", dest))
                self._active[dest] = fp
        for dest in [d for d in self._active if d not in present]:
            self._stop(dest, done)
        return done

    def _stop(self, dest: str, done: list[tuple[str, str]]) -> None:
        if self._call(self._on_stop, "stop", dest):
            del self._active[dest]
            done.append(("stop", dest))

    def _call(self, callback: Callable[[str], object], what: str, dest: str) -> bool:
        try:
            callback(dest)
        except Exception:
            log.exception("auto scan: %s of instance %s failed", what, dest)
            return False
        log.info("auto scan: %s instance %s", what, dest)
        return True

    def _run(self) -> None:
        while not self._stop_event.is_set():
            try:
                self.scan_once()
            except Exception:  # keep scanning, as canal's scheduled task does
                log.exception("auto scan of %s failed", self.conf_dir)
            self._stop_event.wait(self.interval_s)

    def start(self) -> None:
        """Scan now and then every ``interval_s`` seconds in a daemon thread."""
        if self._thread is not None:
            return
        self._stop_event.clear()
        self._thread = threading.Thread(target=self._run, name="canal-instance-scan", daemon=True)
        self._thread.start()

    def stop(self, timeout: float | None = 10.0) -> None:
        """Stop the thread (callbacks already running finish first); the instances are left as they are."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self._stop_event.set()
        thread.join(timeout)

    def __enter__(self) -> InstanceScanner:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
