"""Adapters: the ports implemented with PostgreSQL (psycopg2) and Kafka (confluent-kafka)."""
