*** Settings ***
Documentation       Chaos acceptance tests of the order service's Dual Write.
...
...                 PostgreSQL and Kafka are reused where they answer at the configured addresses
...                 (``docker compose up -d``, a staging cluster) and otherwise started as an embedded
...                 stack, once for every suite, and stopped at the end.
Resource            ../resources/infrastructure.resource
Suite Setup         Bring Up Infrastructure
Suite Teardown      Tear Down Infrastructure
