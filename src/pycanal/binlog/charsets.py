"""MySQL/MariaDB collation ids -> character set -> Python codec.

The id table was read from MariaDB 10.11's information_schema.COLLATIONS, plus MySQL 8's utf8mb4_0900
(255-323) and gb18030 (248-250) ids. Character sets with no faithful Python codec map to None, and the
row decoder refuses them with a clear error rather than guess (a wrong guess would silently mangle text).
"""

from __future__ import annotations

BINARY = 63

# charset name -> Python codec (None: no faithful codec)
CODECS: dict[str, str | None] = {
    "armscii8": None,
    "ascii": 'ascii',
    "big5": 'big5',
    "binary": None,
    "cp1250": 'cp1250',
    "cp1251": 'cp1251',
    "cp1256": 'cp1256',
    "cp1257": 'cp1257',
    "cp850": 'cp850',
    "cp852": 'cp852',
    "cp866": 'cp866',
    "cp932": 'cp932',
    "dec8": None,
    "eucjpms": 'euc_jis_2004',
    "euckr": 'euc_kr',
    "gb2312": 'gb2312',
    "gbk": 'gbk',
    "geostd8": None,
    "greek": 'iso8859_7',
    "hebrew": 'iso8859_8',
    "hp8": None,
    "keybcs2": None,
    "koi8r": 'koi8_r',
    "koi8u": 'koi8_u',
    "latin1": 'cp1252',
    "latin2": 'iso8859_2',
    "latin5": 'iso8859_9',
    "latin7": 'iso8859_13',
    "macce": 'mac_latin2',
    "macroman": 'mac_roman',
    "sjis": 'shift_jis',
    "swe7": None,
    "tis620": 'tis_620',
    "ucs2": 'utf_16_be',
    "ujis": 'euc_jp',
    "utf16": 'utf_16_be',
    "utf16le": 'utf_16_le',
    "utf32": 'utf_32_be',
    "utf8mb3": 'utf-8',
    "utf8mb4": 'utf-8',
    "gb18030": "gb18030",
}

_IDS: dict[str, tuple[int, ...]] = {
    "armscii8": (32, 64, 1056, 1088),
    "ascii": (11, 65, 1035, 1089),
    "big5": (1, 84, 1025, 1108),
    "binary": (63,),
    "cp1250": (26, 34, 44, 66, 99, 1050, 1090),
    "cp1251": (14, 23, 50, 51, 52, 1074, 1075),
    "cp1256": (57, 67, 1081, 1091),
    "cp1257": (29, 58, 59, 1082, 1083),
    "cp850": (4, 80, 1028, 1104),
    "cp852": (40, 81, 1064, 1105),
    "cp866": (36, 68, 1060, 1092),
    "cp932": (95, 96, 1119, 1120),
    "dec8": (3, 69, 1027, 1093),
    "eucjpms": (97, 98, 1121, 1122),
    "euckr": (19, 85, 1043, 1109),
    "gb2312": (24, 86, 1048, 1110),
    "gbk": (28, 87, 1052, 1111),
    "geostd8": (92, 93, 1116, 1117),
    "greek": (25, 70, 1049, 1094),
    "hebrew": (16, 71, 1040, 1095),
    "hp8": (6, 72, 1030, 1096),
    "keybcs2": (37, 73, 1061, 1097),
    "koi8r": (7, 74, 1031, 1098),
    "koi8u": (22, 75, 1046, 1099),
    "latin1": (5, 8, 15, 31, 47, 48, 49, 94, 1032, 1071),
    "latin2": (2, 9, 21, 27, 77, 1033, 1101),
    "latin5": (30, 78, 1054, 1102),
    "latin7": (20, 41, 42, 79, 1065, 1103),
    "macce": (38, 43, 1062, 1067),
    "macroman": (39, 53, 1063, 1077),
    "sjis": (13, 88, 1037, 1112),
    "swe7": (10, 82, 1034, 1106),
    "tis620": (18, 89, 1042, 1113),
    "ucs2": (
        35, 90, 128, 129, 130, 131, 132, 133, 134, 135, 136, 137, 138, 139, 140, 141, 142, 143, 144,
        145, 146, 147, 148, 149, 150, 151, 159, 640, 641, 642, 1059, 1114, 1152, 1174
    ),
    "ujis": (12, 91, 1036, 1115),
    "utf16": (
        54, 55, 101, 102, 103, 104, 105, 106, 107, 108, 109, 110, 111, 112, 113, 114, 115, 116, 117,
        118, 119, 120, 121, 122, 123, 124, 672, 673, 674, 1078, 1079, 1125, 1147
    ),
    "utf16le": (56, 62, 1080, 1086),
    "utf32": (
        60, 61, 160, 161, 162, 163, 164, 165, 166, 167, 168, 169, 170, 171, 172, 173, 174, 175, 176,
        177, 178, 179, 180, 181, 182, 183, 736, 737, 738, 1084, 1085, 1184, 1206
    ),
    "utf8mb3": (
        33, 83, 192, 193, 194, 195, 196, 197, 198, 199, 200, 201, 202, 203, 204, 205, 206, 207, 208,
        209, 210, 211, 212, 213, 214, 215, 223, 576, 577, 578, 1057, 1107, 1216, 1238
    ),
    "utf8mb4": (
        45, 46, 224, 225, 226, 227, 228, 229, 230, 231, 232, 233, 234, 235, 236, 237, 238, 239, 240,
        241, 242, 243, 244, 245, 246, 247, 608, 609, 610, 1069, 1070, 1248, 1270
    ),
}

CHARSET_OF: dict[int, str] = {i: name for name, ids in _IDS.items() for i in ids}
# MySQL 8 only: utf8mb3_tolower_ci, gb18030, the utf8mb4_0900 family.
CHARSET_OF[76] = "utf8mb3"
CHARSET_OF.update({i: "gb18030" for i in (248, 249, 250)})
CHARSET_OF.update({i: "utf8mb4" for i in range(255, 324)})


def charset_name(collation_id: int) -> str | None:
    return CHARSET_OF.get(collation_id)


def codec_for(collation_id: int) -> str | None:
    """The Python codec for a collation id; None for binary, unknown ids or charsets with no codec."""
    name = CHARSET_OF.get(collation_id)
    return CODECS.get(name) if name else None


def codec_for_charset(name: str) -> str | None:
    return CODECS.get(name.lower())
