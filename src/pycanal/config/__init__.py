"""canal.properties / instance.properties -> typed config objects, with canal's lookup rules and defaults.

The parts, one module each (canal-spec.md section 7):

* :mod:`.properties`: ``.properties`` text read exactly as ``java.util.Properties.load`` does.
* :mod:`.lookup`: canal's layered lookup (``-D`` override, environment variable, instance.properties,
  canal.properties, canal's default) with Spring's ``${name:default}`` placeholders and typed values.
* :mod:`.model`: the frozen :class:`ServerConfig` / :class:`InstanceConfig` and their parts.
* :mod:`.load`: :func:`load_server_config` / :func:`load_instance_config`; unknown keys are kept in
  ``extra`` and warned about once.
* :mod:`.scan`: canal's ``canal.auto.scan`` (:class:`InstanceScanner`).
"""

from .load import (
    CANAL_PROPERTIES,
    INSTANCE_PROPERTIES,
    SSL_MODES,
    load_instance_config,
    load_server_config,
)
from .model import (
    DEFAULT_SPRING_XML,
    DetectingConfig,
    FilterConfig,
    HostPort,
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
)
from .properties import load_properties, parse_overrides, parse_properties
from .scan import InstanceScanner, scan_instance_dirs

__all__ = [
    "CANAL_PROPERTIES",
    "DEFAULT_SPRING_XML",
    "INSTANCE_PROPERTIES",
    "SSL_MODES",
    "DetectingConfig",
    "FilterConfig",
    "HostPort",
    "InstanceConfig",
    "InstanceMQConfig",
    "InstanceScanner",
    "MQConfig",
    "MemoryConfig",
    "NetworkConfig",
    "ParserConfig",
    "RabbitMQConfig",
    "RdsConfig",
    "ServerConfig",
    "SourceConfig",
    "SslConfig",
    "TsdbConfig",
    "load_instance_config",
    "load_properties",
    "load_server_config",
    "parse_overrides",
    "parse_properties",
    "scan_instance_dirs",
]
