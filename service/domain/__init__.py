"""The domain: orders, their events, the ports and the use cases.

Plain Python only: nothing here knows Falcon, psycopg2 or confluent-kafka.
"""
