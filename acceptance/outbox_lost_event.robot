*** Settings ***
Documentation       The lost-event proof, inverted: with the Transactional Outbox, orders placed while
...                 the broker is unreachable get their events once it is back.
...
...                 Same fault as the lost-event suite (a dedicated broker behind a proxy the suite cuts,
...                 or Redpanda stopped with docker compose), with the service in ``outbox`` mode: the
...                 request commits the order and its outbox row, and the relay retries until the broker
...                 answers. Each order's fate is read from the topic; the time from the heal to the last
...                 delivery is measured and bounded. The report is ``outbox-lost-event-report.md``.
Resource            ../resources/lost_event.resource
Suite Setup         Prepare The Lost Event Run    outbox
Suite Teardown      Finish The Lost Event Run    expect_loss=${FALSE}    mode=outbox
...                     log=outbox-lost-event-service.log    report=outbox-lost-event-report.md
Test Tags           lost-event    outbox


*** Variables ***
# The bound on delivery after the heal: the relay's back-off is at most 5 s, plus a pass.
${DELIVERY_BOUND}       15s


*** Test Cases ***
Infrastructure Is Healthy
    Infrastructure And The Database Should Be Ready

Service Runs In Outbox Mode Against A Broker The Suite Can Cut Off
    Service Should Run Against A Broker The Suite Can Cut Off    profiles=outbox
    ...    log=outbox-lost-event-service.log

Orders Are Published While The Broker Is Reachable
    ${order_id}=    Place An Order    baseline
    Order Should Be Delivered Within    ${order_id}    10s

Orders Are Accepted While The Broker Is Unreachable
    Place Orders While The Broker Is Unreachable

Every Order Of The Outage Is Delivered Once The Broker Is Back
    Broker Should Be Back For The Service
    Outage Orders Should Be Delivered Within    ${DELIVERY_BOUND}
    ${order_id}=    Place An Order    after
    Order Should Be Delivered Within    ${order_id}    10s

Orders Placed While The Broker Is Stopped Are Delivered Once It Is Back
    [Tags]    broker-restart
    Place Orders While The Broker Is Stopped
    Wait Until Orders Of Phase Are Delivered    stopped    ${DELIVERY_BOUND}
    Orders Before The Fault Should Still Be Delivered

Every Order Across A Leader Failover Is Delivered
    [Tags]    leader-failover
    Place Orders Across A Leader Failover
    Wait Until Orders Of Phase Are Delivered    failover    ${DELIVERY_BOUND}

Orders Held For Too Few In Sync Replicas Are Delivered Once They Return
    [Tags]    min-insync-replicas
    Place Orders With Two Of Three Brokers Down
    Wait Until Orders Of Phase Are Delivered    under-replicated    ${DELIVERY_BOUND}

No Event Is Lost
    Fates Should Be Judged From The Topic    expect_loss=${FALSE}    log=outbox-lost-event-service.log

Cleanup Stops The Service
    Stop Order Service
