"""canal.properties / instance.properties: the .properties parser, lookup order, placeholders, typed values,
errors, destinations and the auto-scan (canal-spec.md section 7)."""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from helpers import wait_for
from pycanal.config import (
    HostPort,
    InstanceScanner,
    load_instance_config,
    load_properties,
    load_server_config,
    parse_overrides,
    parse_properties,
    scan_instance_dirs,
)
from pycanal.errors import ConfigError

EXAMPLE_CONF = Path(__file__).resolve().parents[2] / "src" / "pycanal" / "conf_example"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def conf(tmp_path: Path) -> Path:
    """A conf dir with a minimal canal.properties and one instance 'example'."""
    d = tmp_path / "conf"
    write(d / "canal.properties", "canal.destinations = example\n")
    write(d / "example" / "instance.properties", "canal.instance.master.address = 127.0.0.1:3306\n")
    return d


# --------------------------------------------------------------------------------------------------
# java.util.Properties


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a=b", {"a": "b"}),
        ("a: b", {"a": "b"}),
        ("a b", {"a": "b"}),
        ("a\tb", {"a": "b"}),
        ("a \t = \t b", {"a": "b"}),
        ("a = = b", {"a": "= b"}),  # only one separator is eaten
        ("a:=b", {"a": "=b"}),
        ("a b = c", {"a": "b = c"}),  # whitespace ended the key; '=' after it is eaten only if first
        ("a", {"a": ""}),
        ("a=", {"a": ""}),
        ("=b", {"": "b"}),
        ("   a=b", {"a": "b"}),
        ("a=b   ", {"a": "b   "}),  # trailing whitespace is part of the value
        ("\f a=b", {"a": "b"}),  # form feed is whitespace
        ("a\\=b=c", {"a=b": "c"}),
        ("a\\:b:c", {"a:b": "c"}),
        ("a\\ b c", {"a b": "c"}),
        ("a=b\na=c", {"a": "c"}),  # later duplicates win
    ],
)
def test_separators(text: str, expected: dict[str, str]) -> None:
    assert parse_properties(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("# c\na=b", {"a": "b"}),
        ("! c\na=b", {"a": "b"}),
        ("   # indented comment\na=b", {"a": "b"}),
        ("a=b # not a comment", {"a": "b # not a comment"}),
        ("#comment ending in backslash \\\na=b", {"a": "b"}),  # comments never continue
        ("\n\n   \n\ta=b\n\n", {"a": "b"}),
    ],
)
def test_comments_and_blank_lines(text: str, expected: dict[str, str]) -> None:
    assert parse_properties(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a=b\\\n   c", {"a": "bc"}),  # continuation drops the leading whitespace of the next line
        ("a=one,\\\n    two,\\\n    three", {"a": "one,two,three"}),
        ("a=b\\\\\nc=d", {"a": "b\\", "c": "d"}),  # an even number of backslashes does not continue
        ("a=b\\\\\\\n c", {"a": "b\\c"}),  # an odd number does
        ("a=b\\\n# still value", {"a": "b# still value"}),  # no comment inside a continuation
        ("a=b\\\n\nc=d", {"a": "b", "c": "d"}),  # an empty continuation line ends the logical line
        ("a=b\\", {"a": "b"}),  # backslash at end of input is dropped
        ("ke\\\n  y=v", {"key": "v"}),  # keys continue too
        ("a=b\\\r\n c\r\nd=e", {"a": "bc", "d": "e"}),
    ],
)
def test_continuations(text: str, expected: dict[str, str]) -> None:
    assert parse_properties(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a=x\\ty\\nz\\rw\\f", "x\ty\nz\rw\f"),
        ("a=\\u0041\\u00e9\\u4e2d", "Aé中"),
        ("a=\\uD83D\\uDE00", "\U0001f600"),  # a UTF-16 surrogate pair becomes one character
        ("a=c:\\\\dir", "c:\\dir"),
        ("a=\\q\\#\\!\\=\\:", "q#!=:"),  # any other escaped character is itself
        ("canal.instance.filter.regex=db\\\\..*", "db\\..*"),
        ("canal.instance.filter.regex=.*\\\\..*", ".*\\..*"),
        ("a=中文值", "中文值"),
    ],
)
def test_escapes_and_unicode(text: str, expected: str) -> None:
    assert list(parse_properties(text).values()) == [expected]


@pytest.mark.parametrize("bad", ["a=\\u12", "a=\\uZZZZ", "a=\\u", "\\u00G0=b"])
def test_malformed_unicode_escape_names_source_and_line(bad: str) -> None:
    with pytest.raises(ConfigError, match=r"my\.properties:2: malformed \\uxxxx"):
        parse_properties("ok=1\n" + bad, source="my.properties")


def test_line_endings() -> None:
    assert parse_properties("a=1\rb=2\r\nc=3\nd=4") == {"a": "1", "b": "2", "c": "3", "d": "4"}
    # only \r and \n end lines: \v and the Unicode separators are ordinary characters
    assert parse_properties("a=1\x0b2\u20283") == {"a": "1\x0b2\u20283"}


def test_load_properties_encodings(tmp_path: Path) -> None:
    utf8 = tmp_path / "u.properties"
    utf8.write_bytes("\ufeff# 注释\nname=值\n".encode())
    assert load_properties(utf8) == {"name": "值"}  # the BOM is not part of the first key
    latin1 = tmp_path / "l.properties"
    latin1.write_bytes("name=caf\xe9\n".encode("iso-8859-1"))  # not valid UTF-8: read as Java would
    assert load_properties(latin1) == {"name": "café"}
    with pytest.raises(ConfigError, match=r"cannot read .*missing\.properties"):
        load_properties(tmp_path / "missing.properties")


def test_parse_overrides() -> None:
    assert parse_overrides(["canal.port=2222", "a= b=c "]) == {"canal.port": "2222", "a": " b=c "}
    with pytest.raises(ConfigError, match=r"'canal\.port'"):
        parse_overrides(["canal.port"])


_JAVA_DUMP = """
import java.io.*; import java.util.*; import java.nio.charset.StandardCharsets;
public class Dump {
  public static void main(String[] a) throws Exception {
    for (File f : new File(a[0]).listFiles((d, n) -> n.endsWith(".in"))) {
      StringBuilder sb = new StringBuilder();
      try (Reader r = new InputStreamReader(new FileInputStream(f), StandardCharsets.UTF_8)) {
        Properties p = new Properties(); p.load(r);
        for (String k : new TreeSet<>(p.stringPropertyNames()))
          sb.append(hex(k) + "=" + hex(p.getProperty(k)) + "\\n");
      } catch (IllegalArgumentException e) { sb = new StringBuilder("ERROR\\n"); }
      try (Writer w = new FileWriter(f.getPath() + ".out", StandardCharsets.UTF_8)) {
        w.write(sb.toString());
      }
    }
  }
  static String hex(String s) {
    StringBuilder b = new StringBuilder();
    for (char c : s.toCharArray()) b.append(String.format("%04x", (int) c));
    return b.toString();
  }
}
"""


def _utf16_hex(s: str) -> str:
    return s.encode("utf-16-be", "surrogatepass").hex()


@pytest.mark.skipif(shutil.which("java") is None, reason="needs a JDK to compare with java.util.Properties")
@pytest.mark.timeout(60)
def test_parser_matches_java_util_properties(tmp_path: Path) -> None:
    """Differential check: random inputs made of the tricky pieces, parsed by Java and by us."""
    rng = random.Random(20240607)
    pieces = [
        "a",
        "k",
        "=",
        ":",
        " ",
        "\t",
        "\f",
        "\\",
        "\n",
        "\r",
        "\r\n",
        "#",
        "!",
        "u",
        "0",
        "t",
        "n",
        "é",
        "中",
        "\\u0041",
        "\\u12",
        "\\uD83D\\uDE00",
        "\\\\",
        "\\\n",
        "${",
        "}",
    ]
    texts = ["".join(rng.choice(pieces) for _ in range(rng.randint(0, 50))) for _ in range(400)]
    for n, text in enumerate(texts):
        (tmp_path / f"{n:04d}.in").write_text(text, encoding="utf-8", newline="")
    (tmp_path / "Dump.java").write_text(_JAVA_DUMP)
    subprocess.run(["java", str(tmp_path / "Dump.java"), str(tmp_path)], check=True, timeout=50, capture_output=True)
    mismatches = []
    for n, text in enumerate(texts):
        try:
            props = parse_properties(text)
            ours = "".join(
                f"{_utf16_hex(k)}={_utf16_hex(v)}\n" for k, v in sorted(props.items(), key=lambda kv: _utf16_hex(kv[0]))
            )
        except ConfigError:
            ours = "ERROR\n"
        java = (tmp_path / f"{n:04d}.in.out").read_text(encoding="utf-8")
        if ours != java:
            mismatches.append(text)
    assert mismatches == []


# --------------------------------------------------------------------------------------------------
# The shipped example and defaults


def test_example_conf_loads_as_a_canal_user_expects() -> None:
    server = load_server_config(EXAMPLE_CONF, environ={})
    assert server.port == 11111 and server.metrics_pull_port == 11112 and server.server_mode == "tcp"
    assert server.conf_dir == str(EXAMPLE_CONF) and server.file_data_dir == str(EXAMPLE_CONF)
    assert server.destinations == ("example",) and server.resolve_destinations() == ("example",)
    assert server.detecting.interval_s == 3 and server.detecting.sql == "select 1"
    assert server.binlog_formats == ("ROW", "STATEMENT", "MIXED")
    assert server.binlog_images == ("FULL", "MINIMAL", "NOBLOB")
    assert server.mq.kafka["bootstrap.servers"] == "127.0.0.1:9092"
    assert server.global_manager_address == ""  # ${canal.admin.manager} with canal.admin.manager unset
    assert server.extra == {}

    inst = load_instance_config(EXAMPLE_CONF, "example", server)
    assert inst.master.address == HostPort("127.0.0.1", 3306)
    assert (inst.db_username, inst.db_password) == ("canal", "canal")
    assert inst.master.journal_name is None and inst.master.position is None and inst.master.timestamp is None
    assert inst.standby is None
    assert inst.filter.regex == ".*\\..*" and inst.filter.black_regex == "mysql\\.slave_.*"
    assert inst.tsdb.enable and inst.tsdb.dir == str(EXAMPLE_CONF / "example")
    assert inst.tsdb.url == f"jdbc:h2:{EXAMPLE_CONF / 'example'}/h2;CACHE_SIZE=1000;MODE=MYSQL;"
    assert inst.meta_dir == str(EXAMPLE_CONF / "example") and inst.meta_flavour == "file"
    assert inst.mq.topic == "example" and inst.mq.partition == 0 and inst.mq.partitions_num is None
    assert inst.extra == {}


def test_defaults_when_keys_are_absent(conf: Path) -> None:
    server = load_server_config(conf, environ={})
    assert (server.port, server.metrics_pull_port, server.admin_port) == (11111, 11112, 11110)
    assert server.memory.buffer_size == 16384 and server.memory.buffer_memunit == 1024
    assert server.memory.batch_mode == "MEMSIZE" and server.memory.raw_entry is True
    assert server.auto_scan is True and server.auto_scan_interval_s == 5
    assert server.zookeeper_flush_period_ms == 1000 and server.file_flush_period_ms == 1000
    assert server.global_mode == "spring" and server.global_spring_xml == "classpath:spring/file-instance.xml"
    assert server.user is None and server.passwd is None and server.binlog_formats == ()
    inst = load_instance_config(conf, "example", server)
    # canal's XML fallbacks, which differ from the values canal.properties ships
    assert inst.detecting.interval_s == 5 and inst.detecting.sql == ""
    assert (inst.db_username, inst.db_password) == ("retl", "retl")
    assert inst.filter.regex == ".*\\..*" and inst.filter.black_regex == ""
    assert inst.transaction_size == 1024 and inst.fallback_interval_s == 60
    assert inst.parser.parallel and inst.parser.parallel_buffer_size == 256
    assert inst.parser.parallel_thread_size is None
    assert inst.slave_id == 0 and inst.gtid_on is False and inst.connection_charset == "UTF-8"
    assert inst.tsdb.dir == str(conf / "example") and inst.data_dir == str(conf)
    assert inst.tsdb.snapshot_interval_h == 24 and inst.tsdb.snapshot_expire_h == 360


def test_typed_values(conf: Path) -> None:
    write(
        conf / "canal.properties",
        """
canal.port = 0x2B67
canal.withoutNetty = TRUE
canal.serverMode = rocketMQ
canal.instance.memory.batch.mode = itemsize
canal.instance.binlog.format = row, mixed
canal.instance.parser.parallelThreadSize = 4
canal.user = canal
canal.passwd = E3619321C1A937C46A0D8BD1DAC39F93B27D4458
canal.destinations = example
""",
    )
    write(
        conf / "example" / "instance.properties",
        """
canal.instance.master.address = [::1]:3307
canal.instance.master.journal.name = mysql-bin.000003
canal.instance.master.position = 4
canal.instance.master.timestamp = 1675914626000
canal.instance.standby.address = db2.example.com:3306
canal.instance.standby.sslMode = required
canal.instance.gtidon = on
canal.instance.connectionCharset = UTF8MB4
canal.instance.mysql.slaveId = 1234
canal.mq.partitionsNum = 3
""",
    )
    server = load_server_config(conf, environ={})
    assert server.port == 11111 and server.without_netty is True and server.server_mode == "rocketmq"
    assert server.memory.batch_mode == "ITEMSIZE" and server.binlog_formats == ("ROW", "MIXED")
    assert server.parser.parallel_thread_size == 4 and server.user == "canal"
    inst = load_instance_config(conf, "example", server)
    assert inst.master.address == HostPort("::1", 3307) and str(inst.master.address) == "[::1]:3307"
    assert (inst.master.journal_name, inst.master.position, inst.master.timestamp) == (
        "mysql-bin.000003",
        4,
        1675914626000,
    )
    assert inst.standby is not None and inst.standby.address == HostPort("db2.example.com", 3306)
    assert inst.standby.ssl.mode == "REQUIRED" and inst.master.ssl.mode == "DISABLED"
    assert inst.gtid_on is True and inst.connection_charset == "UTF-8" and inst.slave_id == 1234
    assert inst.mq.partitions_num == 3
    assert inst.memory.batch_mode == "ITEMSIZE"  # instances inherit canal.properties' instance defaults


def test_unknown_keys_are_kept_not_fatal(conf: Path) -> None:
    write(
        conf / "canal.properties",
        "canal.destinations = example\nmy.custom = 1\ncanal.port = 11111\n"
        "kafka.acks = all\ncanal.instance.example.lazy = true\ncanal.instance.dbUsername = u\n",
    )
    write(conf / "example" / "instance.properties", "canal.instance.master.address = h:1\nmy.other = x\n")
    server = load_server_config(conf, environ={})
    assert server.extra == {"my.custom": "1"}
    assert server.raw["my.custom"] == "1" and server.raw["canal.port"] == "11111"
    inst = load_instance_config(conf, "example", server)
    assert inst.extra == {"my.other": "x"}
    assert inst.raw["my.other"] == "x" and inst.raw["my.custom"] == "1"
    assert inst.lazy is True and inst.db_username == "u"


# --------------------------------------------------------------------------------------------------
# Lookup order


@pytest.mark.parametrize(
    ("override", "env", "file", "expected"),
    [
        ("1001", "2002", "3003", 1001),
        (None, "2002", "3003", 2002),
        (None, None, "3003", 3003),
        (None, None, None, 11111),
        ("  ", "2002", "3003", 2002),  # blank counts as unset and falls through (Spring's rule)
        (None, "", "3003", 3003),
    ],
)
def test_server_precedence(conf: Path, override: str | None, env: str | None, file: str | None, expected: int) -> None:
    text = "canal.destinations = example\n" + (f"canal.port = {file}\n" if file else "")
    write(conf / "canal.properties", text)
    overrides = {"canal.port": override} if override is not None else {}
    environ = {"canal.port": env} if env is not None else {}
    assert load_server_config(conf, overrides, environ=environ).port == expected


def test_instance_precedence(conf: Path) -> None:
    key = "canal.instance.memory.buffer.size"
    write(conf / "canal.properties", f"canal.destinations = example\n{key} = 1024\n")
    write(conf / "example" / "instance.properties", f"canal.instance.master.address = h:1\n{key} = 2048\n")
    server = load_server_config(conf, environ={})
    assert server.memory.buffer_size == 1024  # the instance file does not leak into the server
    assert load_instance_config(conf, "example", server).memory.buffer_size == 2048
    server = load_server_config(conf, environ={key: "4096"})
    assert server.memory.buffer_size == 4096
    assert load_instance_config(conf, "example", server).memory.buffer_size == 4096  # env > instance file
    server = load_server_config(conf, {key: "8192"}, environ={key: "4096"})
    assert load_instance_config(conf, "example", server).memory.buffer_size == 8192  # override > env
    # the caller may also give the instance its own overrides / environment
    assert load_instance_config(conf, "example", server, overrides={}, environ={}).memory.buffer_size == 2048


def test_instance_keys_default_from_canal_properties(conf: Path) -> None:
    write(
        conf / "canal.properties",
        "canal.destinations = example\n"
        "canal.instance.master.address = 10.0.0.1:3306\ncanal.instance.dbUsername = shared\n",
    )
    (conf / "example" / "instance.properties").unlink()  # canal tolerates a missing instance file
    inst = load_instance_config(conf, "example", load_server_config(conf, environ={}))
    assert inst.master.address == HostPort("10.0.0.1", 3306) and inst.db_username == "shared"


def test_per_destination_mode_keys(conf: Path) -> None:
    write(
        conf / "canal.properties",
        "canal.destinations = example\ncanal.instance.global.lazy = true\n"
        "canal.instance.example.spring.xml = classpath:spring/memory-instance.xml\n",
    )
    inst = load_instance_config(conf, "example", load_server_config(conf, environ={}))
    assert inst.lazy is True and inst.meta_flavour == "memory"
    assert inst.tsdb.enable is False  # memory-instance.xml defaults tsdb off
    write(
        conf / "canal.properties",
        "canal.destinations = example\ncanal.admin.manager = 127.0.0.1:8089\ncanal.instance.example.mode = spring\n",
    )
    with pytest.raises(ConfigError, match=r"canal.admin.manager = '127.0.0.1:8089': configuration from canal-admin"):
        load_server_config(conf, environ={})  # canal-admin would force manager mode: pycanal cannot take it


# --------------------------------------------------------------------------------------------------
# Placeholders


def _server_with(conf: Path, text: str, **kw: object) -> object:
    write(conf / "canal.properties", "canal.destinations = example\n" + text)
    return load_server_config(conf, **kw)  # type: ignore[arg-type]


def test_placeholders(conf: Path) -> None:
    server = _server_with(
        conf,
        "canal.instance.detecting.sql = select ${v:1}\n"
        "canal.instance.tsdb.dbUsername = ${user:${fallback:nobody}}\n"
        "canal.instance.tsdb.dbPassword = [${missing}]\n"
        "canal.ip = ${a}\na = ${b}\nb = 10.1.2.3\n"
        "canal.register.ip = ${from.env:x}\n",
        environ={"from.env": "1.2.3.4"},
    )
    assert server.detecting.sql == "select 1"  # default
    assert server.tsdb.db_username == "nobody"  # nested default
    assert server.tsdb.db_password == "[]"  # unresolvable, no default: empty (canal's configurer)
    assert server.ip == "10.1.2.3"  # recursive
    assert server.register_ip == "1.2.3.4"  # placeholders see the environment too
    server = _server_with(
        conf, "user = admin\ncanal.instance.tsdb.dbUsername = ${user:${fallback:nobody}}\n", environ={}
    )
    assert server.tsdb.db_username == "admin"


def test_placeholder_paths_and_destination(conf: Path) -> None:
    write(
        conf / "canal.properties",
        "canal.destinations = example\ncanal.file.data.dir = ../data\n"
        "canal.instance.tsdb.dir = ${canal.file.data.dir:../conf}/${canal.instance.destination:}/tsdb\n",
    )
    server = load_server_config(conf, environ={})
    data = conf.parent / "data"  # relative paths resolve from <home>/bin, canal's working directory
    assert server.file_data_dir == str(data) and server.tsdb.dir == str(data / "tsdb")
    inst = load_instance_config(conf, "example", server)
    assert inst.data_dir == str(data) and inst.tsdb.dir == str(data / "example" / "tsdb")
    assert inst.meta_dir == str(data / "example")


def test_placeholder_cycle_is_an_error(conf: Path) -> None:
    with pytest.raises(ConfigError, match=r"canal\.properties: canal\.ip: circular placeholder"):
        _server_with(conf, "canal.ip = ${x}\nx = ${y}\ny = ${x}\n", environ={})
    with pytest.raises(ConfigError, match="circular placeholder"):
        _server_with(conf, "canal.ip = ${canal.ip:1}\n", environ={})


def test_manager_address_placeholder(conf: Path) -> None:
    server = _server_with(
        conf,
        "canal.instance.global.manager.address = ${canal.admin.manager:10.0.0.9:8089}\n",
        environ={},
    )
    assert server.global_manager_address == "10.0.0.9:8089" and server.global_mode == "spring"


# --------------------------------------------------------------------------------------------------
# Malformed values


@pytest.mark.parametrize(
    ("key", "value", "reason"),
    [
        ("canal.port", "abc", "not an integer"),
        ("canal.port", "1_000", "not an integer"),
        ("canal.port", "70000", "<= 65535"),
        ("canal.metrics.pull.port", "12.5", "not an integer"),
        ("canal.withoutNetty", "maybe", "not a boolean"),
        ("canal.auto.scan", "yes please", "not a boolean"),
        ("canal.instance.memory.buffer.size", "1000", "power of two"),
        ("canal.instance.memory.buffer.size", "0", "power of two"),
        ("canal.instance.memory.batch.mode", "BYTES", "one of MEMSIZE, ITEMSIZE"),
        ("canal.instance.transaction.size", "1000", "power of two"),
        ("canal.instance.parser.parallelBufferSize", "3", "power of two"),
        ("canal.serverMode", "kafka2", "one of tcp"),
        ("canal.auto.scan.interval", "0", ">= 1"),
        ("canal.passwd", "secret", "40 hex digits"),
        ("canal.destinations.expr", "example{a-b}", "prefix{N-M}"),
        ("canal.destinations", "a/b", "not a usable instance folder"),
        ("canal.instance.binlog.format", "ROW,JSON", "'JSON' is not one of ROW"),
        ("canal.instance.binlog.image", "FULL,HALF", "'HALF' is not one of FULL"),
        ("canal.instance.filter.regex", "db\\\\.(", "bad table filter regex"),
        ("canal.instance.global.mode", "cluster", "one of spring, manager"),
        ("canal.mq.accessChannel", "remote", "one of local, cloud"),
    ],
)
def test_malformed_server_value_names_file_key_value(conf: Path, key: str, value: str, reason: str) -> None:
    path = write(conf / "canal.properties", f"canal.destinations = example\n{key} = {value}\n")
    shown = parse_properties(f"{key} = {value}")[key]
    with pytest.raises(ConfigError) as err:
        load_server_config(conf, environ={})
    msg = str(err.value)
    assert str(path) in msg and key in msg and repr(shown) in msg and reason in msg, msg


@pytest.mark.parametrize(
    ("key", "value", "reason"),
    [
        ("canal.instance.master.address", "127.0.0.1", "host:port"),
        ("canal.instance.master.address", "localhost:abc", "not a number"),
        ("canal.instance.master.address", "localhost:0", "out of range"),
        ("canal.instance.master.address", ":3306", "host:port"),
        ("canal.instance.standby.address", "db2", "host:port"),
        ("canal.instance.master.position", "-1", ">= 0"),
        ("canal.instance.master.timestamp", "yesterday", "not an integer"),
        ("canal.instance.mysql.slaveId", "x", "not an integer"),
        ("canal.instance.mysql.slaveId", "4294967296", "<= 4294967295"),
        ("canal.instance.gtidon", "yes please", "not a boolean"),
        ("canal.instance.connectionCharset", "no-such-charset", "unknown character set"),
        ("canal.instance.master.sslMode", "SOMETIMES", "one of DISABLED"),
        ("canal.instance.memory.buffer.size", "3000", "power of two"),
        ("canal.instance.filter.black.regex", "[", "bad table filter regex"),
        ("canal.mq.partitionsNum", "0", ">= 1"),
        ("canal.instance.example.mode", "plain", "one of spring, manager"),
    ],
)
def test_malformed_instance_value_names_file_key_value(conf: Path, key: str, value: str, reason: str) -> None:
    server = load_server_config(conf, environ={})
    path = write(
        conf / "example" / "instance.properties", f"canal.instance.master.address = 127.0.0.1:3306\n{key} = {value}\n"
    )
    with pytest.raises(ConfigError) as err:
        load_instance_config(conf, "example", server)
    msg = str(err.value)
    assert str(path) in msg and key in msg and repr(value) in msg and reason in msg, msg


def test_malformed_value_from_environment_or_override_names_its_origin(conf: Path) -> None:
    with pytest.raises(ConfigError, match=r"environment variable: bad value for canal\.port: 'x1'"):
        load_server_config(conf, environ={"canal.port": "x1"})
    with pytest.raises(ConfigError, match=r"-D override: bad value for canal\.port: 'x2'"):
        load_server_config(conf, {"canal.port": "x2"}, environ={})


def test_malformed_placeholder_result_shows_both(conf: Path) -> None:
    path = write(conf / "canal.properties", "canal.destinations = example\nn = ten\ncanal.port = ${n}\n")
    with pytest.raises(ConfigError) as err:
        load_server_config(conf, environ={})
    assert str(err.value) == f"{path}: bad value for canal.port: '${{n}}' (resolved to 'ten'): not an integer"


def test_other_config_errors(conf: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"canal\.user is 'canal' but canal\.passwd is empty"):
        _server_with(conf, "canal.user = canal\n", environ={})
    with pytest.raises(ConfigError, match=r"cannot read .*nowhere.*canal\.properties"):
        load_server_config(tmp_path / "nowhere", environ={})
    write(conf / "canal.properties", "canal.destinations = example\n")
    server = load_server_config(conf, environ={})
    path = write(conf / "example" / "instance.properties", "canal.instance.dbUsername = canal\n")
    with pytest.raises(ConfigError, match=rf"{path}: canal\.instance\.master\.address is not set"):
        load_instance_config(conf, "example", server)
    with pytest.raises(ConfigError, match=r"bad destination name '\.\./x'"):
        load_instance_config(conf, "../x", server)


# --------------------------------------------------------------------------------------------------
# Destinations


def test_destinations_list_and_expression(conf: Path) -> None:
    server = _server_with(conf, "canal.destinations = b, a ,,b\n", environ={})
    assert server.destinations == ("b", "a") and server.resolve_destinations() == ("b", "a")
    server = _server_with(conf, "canal.destinations = ignored\ncanal.destinations.expr = inst{1-3}\n", environ={})
    assert server.destinations == ("inst1", "inst2", "inst3")


def test_empty_destinations_auto_scan(tmp_path: Path) -> None:
    conf = tmp_path / "conf"
    write(conf / "canal.properties", "canal.destinations =\n")
    write(conf / "zeta" / "instance.properties", "")
    write(conf / "alpha" / "INSTANCE.properties", "")  # canal compares the name case-insensitively
    write(conf / "spring" / "instance.properties", "")  # canal's spring folder is never an instance
    write(conf / "empty" / "README", "")
    write(conf / "notadir", "")
    server = load_server_config(conf, environ={})
    assert server.destinations == ()
    assert server.resolve_destinations() == ("alpha", "zeta") == tuple(scan_instance_dirs(conf))
    server = load_server_config(conf, {"canal.auto.scan": "false"}, environ={})
    assert server.resolve_destinations() == ()
    server = load_server_config(conf, {"canal.conf.dir": str(tmp_path / "elsewhere")}, environ={})
    assert server.conf_dir == str(tmp_path / "elsewhere") and server.resolve_destinations() == ()


# --------------------------------------------------------------------------------------------------
# Auto scan


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []
        self.fail: set[tuple[str, str]] = set()

    def cb(self, what: str) -> Callable[[str], None]:
        def call(dest: str) -> None:
            if (what, dest) in self.fail:
                raise RuntimeError(f"cannot {what} {dest}")
            self.calls.append((what, dest))

        return call

    def scanner(self, conf: Path, known: tuple[str, ...] = ()) -> InstanceScanner:
        return InstanceScanner(conf, 5, self.cb("start"), self.cb("stop"), self.cb("restart"), known=known)


def test_scanner_start_stop_restart(tmp_path: Path) -> None:
    conf = tmp_path / "conf"
    rec = Recorder()
    scanner = rec.scanner(conf)
    assert scanner.scan_once() == []  # a missing conf dir changes nothing
    a = write(conf / "a" / "instance.properties", "canal.instance.master.address = h:1\n")
    write(conf / "b" / "instance.properties", "x=1\n")
    write(conf / "spring" / "instance.properties", "x=1\n")
    write(conf / "c" / "other.properties", "x=1\n")
    assert scanner.scan_once() == [("start", "a"), ("start", "b")]
    assert scanner.scan_once() == []
    assert scanner.active == {"a", "b"}

    write(conf / "c" / "instance.properties", "x=1\n")  # a folder gaining its file starts
    assert scanner.scan_once() == [("start", "c")]

    a.write_text("canal.instance.master.address = h:2\n")  # same size, new content
    st = a.stat()
    os.utime(a, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert scanner.scan_once() == [("restart", "a")]
    os.utime(a, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))  # touched only: canal restarts too
    assert scanner.scan_once() == [("restart", "a")]
    mtime = a.stat().st_mtime_ns
    a.write_text("canal.instance.master.address = h:3\n")
    os.utime(a, ns=(mtime, mtime))  # same mtime and size: only the content hash tells
    assert scanner.scan_once() == [("restart", "a")]

    (conf / "b" / "instance.properties").unlink()  # a folder losing its file stops
    shutil.rmtree(conf / "c")  # a removed folder stops
    assert scanner.scan_once() == [("stop", "b"), ("stop", "c")]
    assert scanner.active == {"a"}
    write(conf / "b" / "instance.properties", "x=2\n")
    assert scanner.scan_once() == [("start", "b")]
    assert rec.calls == [
        ("start", "a"),
        ("start", "b"),
        ("start", "c"),
        ("restart", "a"),
        ("restart", "a"),
        ("restart", "a"),
        ("stop", "b"),
        ("stop", "c"),
        ("start", "b"),
    ]


def test_scanner_known_destinations_are_adopted(tmp_path: Path) -> None:
    conf = tmp_path / "conf"
    a = write(conf / "a" / "instance.properties", "x=1\n")
    rec = Recorder()
    scanner = rec.scanner(conf, known=("a", "gone"))
    # 'a' is adopted silently; 'gone' has no folder, so it is stopped, as canal's scan does
    assert scanner.scan_once() == [("stop", "gone")]
    a.write_text("x=22\n")
    assert scanner.scan_once() == [("restart", "a")]
    scanner.register("b")
    write(conf / "b" / "instance.properties", "x=1\n")
    assert scanner.scan_once() == []
    assert scanner.active == {"a", "b"}


def test_scanner_failed_callbacks(tmp_path: Path) -> None:
    conf = tmp_path / "conf"
    a = write(conf / "a" / "instance.properties", "x=1\n")
    rec = Recorder()
    scanner = rec.scanner(conf)
    rec.fail = {("start", "a")}
    assert scanner.scan_once() == [] and scanner.active == set()
    rec.fail = set()
    assert scanner.scan_once() == [("start", "a")]  # a failed start is retried
    rec.fail = {("restart", "a")}
    a.write_text("x=2\n")
    assert scanner.scan_once() == []
    assert scanner.scan_once() == []  # a failed restart is not repeated until the file changes again
    rec.fail = {("stop", "a")}
    shutil.rmtree(conf / "a")
    assert scanner.scan_once() == [] and scanner.active == {"a"}
    rec.fail = set()
    assert scanner.scan_once() == [("stop", "a")]  # a failed stop is retried


def test_scanner_thread(tmp_path: Path) -> None:
    conf = tmp_path / "conf"
    write(conf / "a" / "instance.properties", "x=1\n")
    started = threading.Event()
    seen: list[frozenset[str]] = []
    scanner: InstanceScanner

    def on_start(dest: str) -> None:
        seen.append(scanner.active)  # a callback may look at the scanner (no deadlock)
        started.set()

    scanner = InstanceScanner(conf, 0.05, on_start=on_start)
    with scanner:
        assert started.wait(5)
        write(conf / "b" / "instance.properties", "x=1\n")
        wait_for(lambda: scanner.active == {"a", "b"}, timeout=5)
    assert seen[0] == frozenset()
    write(conf / "c" / "instance.properties", "x=1\n")
    scanner.scan_once()  # stopping the thread leaves the scanner usable by hand
    assert scanner.active == {"a", "b", "c"}
    with pytest.raises(ConfigError, match="interval"):
        InstanceScanner(conf, 0)


# --------------------------------------------------------------------------------------------------
# canal's shipped conf files, in a folder not named conf (issue 8 item 5)

CANAL_SHIPPED = Path(__file__).resolve().parents[1] / "data" / "canal_shipped"


def test_canal_shipped_conf_in_a_folder_of_any_name(tmp_path: Path) -> None:
    conf = tmp_path / "canal-conf"
    shutil.copytree(CANAL_SHIPPED, conf)
    server = load_server_config(conf, environ={})
    # canal.conf.dir = ../conf names canal's conf folder from <home>/bin: the folder of canal.properties
    assert server.conf_dir == str(conf) and server.file_data_dir == str(conf)
    assert server.resolve_destinations() == ("example",) and server.extra == {}
    inst = load_instance_config(conf, "example", server)
    assert inst.source == str(conf / "example" / "instance.properties")
    assert inst.data_dir == str(conf) and inst.tsdb.dir == str(conf / "example") and inst.extra == {}
    assert not (tmp_path / "conf").exists()


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("../conf", "{conf}"),
        ("../conf/", "{conf}"),
        ("../conf/sub/dir", "{conf}/sub/dir"),
        ("../data", "{root}/data"),  # any other relative path: from <home>/bin, as canal's startup.sh runs
        ("data", "{root}/bin/data"),
        ("../confx", "{root}/confx"),
        ("{abs}", "{abs}"),
    ],
)
def test_relative_paths_resolve_as_canal_with_conf_meaning_the_conf_folder(tmp_path, written, expected) -> None:
    conf = tmp_path / "my-conf"
    write(conf / "canal.properties", f"canal.file.data.dir = {written.format(abs=tmp_path / 'abs')}\n")
    server = load_server_config(conf, environ={})
    assert server.file_data_dir == expected.format(conf=conf, root=tmp_path, abs=tmp_path / "abs")


def test_missing_conf_dir_is_a_config_error_naming_the_key_and_path(tmp_path: Path) -> None:
    from pycanal.server.controller import CanalController

    conf = tmp_path / "canal-conf"
    shutil.copytree(CANAL_SHIPPED, conf)
    ctl = CanalController(str(conf), overrides={"canal.conf.dir": "../nowhere"}, environ={})
    with pytest.raises(ConfigError) as err:
        ctl.start()
    msg = str(err.value)
    assert "canal.conf.dir = '../nowhere' (-D)" in msg and str(tmp_path / "nowhere") in msg
    assert not ctl.instances


def test_scanner_leaves_instances_alone_when_its_root_disappears(tmp_path: Path, caplog) -> None:
    conf = tmp_path / "conf"
    write(conf / "a" / "instance.properties", "x=1\n")
    rec = Recorder()
    scanner = rec.scanner(conf)
    assert scanner.scan_once() == [("start", "a")]
    moved = tmp_path / "moved"
    conf.rename(moved)
    with caplog.at_level("ERROR", logger="pycanal.config"):
        assert scanner.scan_once() == [] and scanner.scan_once() == []
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 1 and str(conf) in errors[0] and "keep running" in errors[0]
    assert scanner.active == {"a"}
    moved.rename(conf)
    assert scanner.scan_once() == []  # back: nothing changed, nothing restarted


# --------------------------------------------------------------------------------------------------
# Keys that are set but unknown, ignored or refused; file encodings (issue 8 items 3 and 6)


def _warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelname == "WARNING" and r.name == "pycanal.config"]


@pytest.fixture
def fresh_warnings(monkeypatch):
    """Each test sees the once-per-process warnings afresh."""
    from pycanal.config import support

    monkeypatch.setattr(support, "_warned_messages", set())


def test_canal_shipped_conf_warns_about_exactly_what_pycanal_ignores(tmp_path, caplog, fresh_warnings) -> None:
    conf = tmp_path / "canal-conf"
    shutil.copytree(CANAL_SHIPPED, conf)
    with caplog.at_level("WARNING", logger="pycanal.config"):
        server = load_server_config(conf, environ={})
        load_instance_config(conf, "example", server)
        load_instance_config(conf, "example", server)  # a restart says nothing new
    warned = _warnings(caplog)
    assert len(warned) == 3, warned
    assert warned[0].startswith("canal.metrics.pull.port = '11112'") and "no Prometheus metrics yet" in warned[0]
    assert "canal.admin.port = '11110'" in warned[1] and "canal.admin.passwd = '***'" in warned[1]
    assert "canal.instance.parser.parallel = 'true'" in warned[2] and "parallelBufferSize = '256'" in warned[2]
    assert not any("unknown key" in w for w in warned)


def test_unknown_keys_are_warned_once_with_the_nearest_key(conf, caplog, fresh_warnings) -> None:
    write(
        conf / "example" / "instance.properties",
        "canal.instance.master.address = 10.0.0.1:3306\ncanal.instance.dbPasswrd = secret\nmy.own.note = 1\n",
    )
    with caplog.at_level("WARNING", logger="pycanal.config"):
        server = load_server_config(conf, environ={})
        for _ in range(2):
            inst = load_instance_config(conf, "example", server)
    warned = _warnings(caplog)
    source = str(conf / "example" / "instance.properties")
    assert warned == [
        f"{source}: unknown key canal.instance.dbPasswrd is ignored; did you mean canal.instance.dbPassword?",
        f"{source}: unknown key my.own.note is ignored",
    ]
    assert inst.extra == {"canal.instance.dbPasswrd": "secret", "my.own.note": "1"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("canal.instance.enableDruid = true\n", "canal.instance.enableDruid = 'true': encrypted passwords"),
        ("canal.instance.global.spring.xml = classpath:spring/group-instance.xml\n", "group of masters"),
        ("canal.instance.example.mode = manager\n", "manager mode"),
    ],
)
def test_settings_pycanal_cannot_honour_safely_refuse_to_start(conf, text, message, fresh_warnings) -> None:
    write(conf / "canal.properties", "canal.destinations = example\n" + text)
    server = load_server_config(conf, environ={})
    with pytest.raises(ConfigError, match=message):
        load_instance_config(conf, "example", server)


def test_setting_the_value_pycanal_follows_anyway_is_silent(conf, caplog, fresh_warnings) -> None:
    write(
        conf / "canal.properties",
        "canal.destinations = example\ncanal.instance.parser.parallel = false\ncanal.instance.parser."
        "parallelBufferSize = 512\ncanal.metrics.pull.port = 0\ncanal.instance.enableDruid = false\n",
    )
    with caplog.at_level("WARNING", logger="pycanal.config"):
        load_instance_config(conf, "example", load_server_config(conf, environ={}))
    assert _warnings(caplog) == []


def test_a_stray_byte_in_a_comment_changes_no_value(tmp_path, caplog) -> None:
    path = tmp_path / "instance.properties"
    path.write_bytes(b"# caf\xe9 (latin-1 in a comment)\ncanal.instance.dbPassword = p\xc3\xa4ss\n")
    with caplog.at_level("DEBUG", logger="pycanal.config"):
        props = load_properties(path)
    assert props == {"canal.instance.dbPassword": "päss"}
    assert [r.levelname for r in caplog.records] == ["DEBUG"]


def test_a_latin1_value_is_read_as_canal_reads_it_and_warned(tmp_path, caplog) -> None:
    path = tmp_path / "instance.properties"
    path.write_bytes(b"a = caf\xc3\xa9\ncanal.instance.dbPassword = p\xe4ss\n")
    with caplog.at_level("WARNING", logger="pycanal.config"):
        props = load_properties(path)
    assert props == {"a": "café", "canal.instance.dbPassword": "päss"}
    assert _warnings(caplog) == [f"{path}:2: not valid UTF-8; read as ISO-8859-1 (as canal reads it): "
                                 "canal.instance.dbPassword = päss"]  # fmt: skip


def test_scanner_logs_a_failing_start_in_one_line_and_repeats_only_at_debug(tmp_path: Path, caplog) -> None:
    conf = tmp_path / "conf"
    write(conf / "a" / "instance.properties", "x=1\n")
    rec = Recorder()
    rec.fail.add(("start", "a"))
    scanner = rec.scanner(conf)
    with caplog.at_level("DEBUG", logger="pycanal.config"):
        for _ in range(3):
            assert scanner.scan_once() == []
    errors = [r for r in caplog.records if r.levelname == "ERROR"]
    assert [r.getMessage() for r in errors] == ["auto scan: start of instance a failed: cannot start a"]
    assert all(r.exc_info is None for r in errors)  # the traceback is a debug record of its own
    rec.fail.clear()
    assert scanner.scan_once() == [("start", "a")]


def test_dml_type_filters_reach_the_converter(conf) -> None:
    from pycanal.instance import CanalInstance

    write(
        conf / "canal.properties",
        "canal.destinations = example\ncanal.instance.filter.dml.insert = true\n"
        "canal.instance.filter.dml.delete = on\n",
    )
    inst = CanalInstance(load_instance_config(conf, "example", load_server_config(conf, environ={})))
    opts = inst.parser_config.converter_options
    assert (opts["filter_dml_insert"], opts["filter_dml_update"], opts["filter_dml_delete"]) == (True, False, True)


def test_canal_shipped_conf_in_rabbitmq_mode_warns_about_no_mq_key(tmp_path, caplog, fresh_warnings) -> None:
    conf = tmp_path / "canal-conf"
    shutil.copytree(CANAL_SHIPPED, conf)
    overrides = {"canal.serverMode": "rabbitMQ", "rabbitmq.host": "127.0.0.1", "canal.withoutNetty": "true"}
    with caplog.at_level("WARNING", logger="pycanal.config"):
        server = load_server_config(conf, overrides=overrides, environ={})
        load_instance_config(conf, "example", server)
    warned = _warnings(caplog)
    assert len(warned) == 3, warned  # the same three as in tcp mode: every MQ key is honoured
    assert not any("canal.mq" in w or "rabbitmq" in w or "withoutNetty" in w for w in warned)


def test_mq_keys_rabbitmq_does_not_use_are_named(conf, caplog, fresh_warnings) -> None:
    write(
        conf / "canal.properties",
        "canal.destinations = example\ncanal.serverMode = rabbitMQ\nrabbitmq.host = h\n"
        "canal.mq.send.thread.size = 4\ncanal.mq.partitionsNum = 3\ncanal.mq.partition = 0\n",
    )
    with caplog.at_level("WARNING", logger="pycanal.config"):
        load_instance_config(conf, "example", load_server_config(conf, environ={}))
    warned = _warnings(caplog)
    assert len(warned) == 2, warned
    assert "canal.mq.send.thread.size = '4'" in warned[0] and "one thread" in warned[0]
    assert "canal.mq.partitionsNum = '3'" in warned[1] and "RabbitMQ has no partitions" in warned[1]
    assert "canal.mq.partition =" not in warned[1]  # 0 is what happens anyway
    write(conf / "canal.properties", "canal.serverMode = tcp\ncanal.mq.partitionsNum = 3\n")
    caplog.clear()
    with caplog.at_level("WARNING", logger="pycanal.config"):
        load_instance_config(conf, "example", load_server_config(conf, environ={}))
    assert _warnings(caplog) == []  # tcp mode: canal ignores MQ keys, and says nothing either


def test_cloud_mq_access_is_refused_in_mq_mode(conf, fresh_warnings) -> None:
    write(conf / "canal.properties", "canal.serverMode = rabbitMQ\ncanal.mq.accessChannel = cloud\n")
    with pytest.raises(ConfigError, match=r"canal\.mq\.accessChannel = 'cloud': Aliyun cloud MQ"):
        load_server_config(conf, environ={})
