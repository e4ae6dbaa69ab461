"""pycanal: MySQL/MariaDB binlog subscription and consumption, wire-compatible with Alibaba canal."""

__version__ = "0.1.0.dev0"
__all__ = ["__version__"]
