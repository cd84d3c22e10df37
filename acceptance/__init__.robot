*** Settings ***
Documentation       Chaos acceptance tests of the order service's Dual Write.
...
...                 PostgreSQL and Kafka are reused where they answer at the configured addresses
...                 (``docker compose up -d``, a staging cluster) and otherwise started as an embedded
...                 stack, once for every suite, and stopped at the end.
Resource            ../resources/infrastructure.resource
Library             ../resources/libraries/DualWriteComparison.py
Suite Setup         Bring Up Infrastructure
Suite Teardown      Finish The Acceptance Run


*** Keywords ***
Finish The Acceptance Run
    [Documentation]    Write the side-by-side table of every scenario and mode, then stop the infrastructure.
    Run Keyword And Ignore Error    Write Dual Write Vs Outbox Report
    Tear Down Infrastructure
