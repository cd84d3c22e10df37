"""The order service: saves orders in PostgreSQL and publishes ``order.created`` to Kafka."""
