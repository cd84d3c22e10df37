"""Apache Kafka for the embedded stack: jars from Maven, KRaft nodes, a 1- or 3-broker cluster."""

from embedded_stack.apache_kafka.cluster import KafkaCluster
from embedded_stack.apache_kafka.jars import java_binary, kafka_classpath, kafka_version
from embedded_stack.apache_kafka.node import KafkaNode, NodeSpec

__all__ = [
    "KafkaCluster",
    "KafkaNode",
    "NodeSpec",
    "java_binary",
    "kafka_classpath",
    "kafka_version",
]
