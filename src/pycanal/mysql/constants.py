"""MySQL client/server protocol constants: commands, capability flags, server status, packet markers.

Plain module of UPPER_CASE ints (as ``pymysql/constants``); imports nothing. Values come from MySQL's
``include/mysql_com.h`` / MariaDB's ``include/mysql_com.h`` and the binlog dump flags from ``sql/rpl_*``.
"""

from __future__ import annotations

# --- packet framing ------------------------------------------------------------------------------
MAX_PAYLOAD = 0xFFFFFF  # a payload of exactly this length continues in the next packet
HEADER_SIZE = 4  # 3-byte little-endian length + 1-byte sequence id

# --- first byte of a server response ------------------------------------------------------------
OK = 0x00
AUTH_MORE_DATA = 0x01  # caching_sha2_password / sha256 / ed25519 extra round trips
LOCAL_INFILE = 0xFB
NULL_COLUMN = 0xFB  # in a text-protocol row: the value is NULL
EOF = 0xFE  # EOF packet when the payload is shorter than 9 bytes; else an auth switch request
AUTH_SWITCH = 0xFE
ERR = 0xFF

# --- commands (enum_server_command) --------------------------------------------------------------
COM_SLEEP = 0x00
COM_QUIT = 0x01
COM_INIT_DB = 0x02
COM_QUERY = 0x03
COM_FIELD_LIST = 0x04
COM_PING = 0x0E
COM_BINLOG_DUMP = 0x12
COM_REGISTER_SLAVE = 0x15
COM_BINLOG_DUMP_GTID = 0x1E

# --- COM_BINLOG_DUMP / COM_BINLOG_DUMP_GTID flags ---------------------------------------------------
BINLOG_DUMP_NON_BLOCK = 0x01  # send EOF at the current end instead of waiting for more events
BINLOG_SEND_ANNOTATE_ROWS_EVENT = 0x02  # MariaDB: send ANNOTATE_ROWS events (canal always sets it)
BINLOG_THROUGH_POSITION = 0x02  # MySQL COM_BINLOG_DUMP_GTID: same bit, other meaning
BINLOG_THROUGH_GTID = 0x04  # MySQL COM_BINLOG_DUMP_GTID: the GTID set is in the packet

# --- capability flags ------------------------------------------------------------------------------
CLIENT_LONG_PASSWORD = 1 << 0  # MariaDB calls bit 0 CLIENT_MYSQL: "not a MariaDB client"
CLIENT_FOUND_ROWS = 1 << 1
CLIENT_LONG_FLAG = 1 << 2
CLIENT_CONNECT_WITH_DB = 1 << 3
CLIENT_NO_SCHEMA = 1 << 4
CLIENT_COMPRESS = 1 << 5
CLIENT_ODBC = 1 << 6
CLIENT_LOCAL_FILES = 1 << 7
CLIENT_IGNORE_SPACE = 1 << 8
CLIENT_PROTOCOL_41 = 1 << 9
CLIENT_INTERACTIVE = 1 << 10
CLIENT_SSL = 1 << 11
CLIENT_IGNORE_SIGPIPE = 1 << 12
CLIENT_TRANSACTIONS = 1 << 13
CLIENT_RESERVED = 1 << 14
CLIENT_SECURE_CONNECTION = 1 << 15
CLIENT_MULTI_STATEMENTS = 1 << 16
CLIENT_MULTI_RESULTS = 1 << 17
CLIENT_PS_MULTI_RESULTS = 1 << 18
CLIENT_PLUGIN_AUTH = 1 << 19
CLIENT_CONNECT_ATTRS = 1 << 20
CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA = 1 << 21
CLIENT_CAN_HANDLE_EXPIRED_PASSWORDS = 1 << 22
CLIENT_SESSION_TRACK = 1 << 23
CLIENT_DEPRECATE_EOF = 1 << 24

# What pycanal asks for: canal's set (spec 6.1) minus MULTI_STATEMENTS (one statement per COM_QUERY keeps
# result parsing simple and closes a SQL-injection door), plus LENENC client data for long auth replies.
DEFAULT_CLIENT_FLAGS = (
    CLIENT_LONG_PASSWORD
    | CLIENT_LONG_FLAG
    | CLIENT_PROTOCOL_41
    | CLIENT_INTERACTIVE
    | CLIENT_TRANSACTIONS
    | CLIENT_SECURE_CONNECTION
    | CLIENT_MULTI_RESULTS
    | CLIENT_PLUGIN_AUTH
    | CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA
)

# --- server status flags (OK / EOF packets) -------------------------------------------------------
SERVER_STATUS_IN_TRANS = 0x0001
SERVER_STATUS_AUTOCOMMIT = 0x0002
SERVER_MORE_RESULTS_EXISTS = 0x0008
SERVER_STATUS_NO_GOOD_INDEX_USED = 0x0010
SERVER_STATUS_NO_INDEX_USED = 0x0020
SERVER_STATUS_CURSOR_EXISTS = 0x0040
SERVER_STATUS_LAST_ROW_SENT = 0x0080
SERVER_STATUS_DB_DROPPED = 0x0100
SERVER_STATUS_NO_BACKSLASH_ESCAPES = 0x0200
SERVER_STATUS_METADATA_CHANGED = 0x0400
SERVER_QUERY_WAS_SLOW = 0x0800
SERVER_PS_OUT_PARAMS = 0x1000
SERVER_STATUS_IN_TRANS_READONLY = 0x2000
SERVER_SESSION_STATE_CHANGED = 0x4000

# --- collations used for the handshake charset ----------------------------------------------------
CHARSET_IDS: dict[str, int] = {
    "utf8mb4": 45,  # utf8mb4_general_ci: known to MySQL 5.5+ and every MariaDB
    "utf8": 33,
    "utf8mb3": 33,
    "latin1": 8,
    "binary": 63,
}
BINARY_CHARSET = 63
# Python codec for each charset name; None = leave values as bytes.
CHARSET_CODECS: dict[str, str | None] = {
    "utf8mb4": "utf-8",
    "utf8": "utf-8",
    "utf8mb3": "utf-8",
    "latin1": "cp1252",  # MySQL's latin1 is Windows-1252
    "binary": None,
}

# --- column types that carry raw bytes when their charset is binary (63) --------------------------
FIELD_TYPE_VARCHAR = 15
FIELD_TYPE_BIT = 16
FIELD_TYPE_JSON = 245
FIELD_TYPE_TINY_BLOB = 249
FIELD_TYPE_MEDIUM_BLOB = 250
FIELD_TYPE_LONG_BLOB = 251
FIELD_TYPE_BLOB = 252
FIELD_TYPE_VAR_STRING = 253
FIELD_TYPE_STRING = 254
FIELD_TYPE_GEOMETRY = 255
BYTES_FIELD_TYPES = frozenset(
    {
        FIELD_TYPE_VARCHAR,
        FIELD_TYPE_BIT,
        FIELD_TYPE_TINY_BLOB,
        FIELD_TYPE_MEDIUM_BLOB,
        FIELD_TYPE_LONG_BLOB,
        FIELD_TYPE_BLOB,
        FIELD_TYPE_VAR_STRING,
        FIELD_TYPE_STRING,
        FIELD_TYPE_GEOMETRY,
    }
)

# --- client-side error numbers (errmsg.h), used when the client itself refuses ---------------------
CR_AUTH_PLUGIN_CANNOT_LOAD = 2059
CR_AUTH_PLUGIN_ERR = 2061

# --- server errno worth naming ----------------------------------------------------------------------
ER_ACCESS_DENIED = 1045
ER_ACCESS_DENIED_NO_PASSWORD = 1698
ER_PARSE_ERROR = 1064
ER_MASTER_FATAL_ERROR_READING_BINLOG = 1236
