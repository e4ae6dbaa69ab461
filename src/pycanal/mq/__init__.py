"""canal's MQ mode (``canal.serverMode``): changes go to a message broker instead of canal's TCP port.

* :mod:`.routing`: dynamic topics and partition hashing, canal's rules as pure functions (all producers);
* :mod:`.messages`: one get batch -> FlatMessage JSON or protobuf messages, on the existing converters;
* :mod:`.rabbitmq`: the RabbitMQ producer, with publisher confirms;
* :mod:`.worker`: one destination's get -> publish -> confirm -> ack loop (canal's CanalMQStarter worker);
* :mod:`.starter`: a worker per destination running on this server.

See docs/mq.md. Imports: config, errors, filter, model, protocol, server.embedded.
"""

from .messages import Outgoing, build_messages
from .routing import DynamicTopic, PartitionHash, entry_partitions, flat_partitions, java_hash, routing_key
from .starter import MQStarter, check_server_mode, is_mq_mode
from .worker import MQWorker

__all__ = [
    "DynamicTopic",
    "MQStarter",
    "MQWorker",
    "Outgoing",
    "PartitionHash",
    "build_messages",
    "check_server_mode",
    "entry_partitions",
    "flat_partitions",
    "is_mq_mode",
    "java_hash",
    "routing_key",
]
