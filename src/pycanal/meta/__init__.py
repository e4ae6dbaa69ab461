"""Meta managers: subscriptions, client cursors and outstanding batches (canal's CanalMetaManager family)."""

from .base import MetaManager
from .file import FileMixedMetaManager, meta_file_json, read_meta_file
from .memory import MemoryMetaManager
from .period import PeriodMixedMetaManager

__all__ = [
    "FileMixedMetaManager",
    "MemoryMetaManager",
    "MetaManager",
    "PeriodMixedMetaManager",
    "meta_file_json",
    "read_meta_file",
]
