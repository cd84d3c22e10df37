*** Settings ***
Documentation       Proves the second Dual Write failure, the "lost event": the broker is unreachable,
...                 ``POST /orders`` answers 201, the order is in PostgreSQL, and its event never
...                 reaches the topic.
...
...                 The outage is a true unreachability: by default a dedicated broker that advertises a
...                 TCP proxy, and the suite cuts the proxy (connections are refused, the broker keeps its
...                 data). With ``-v FAULT_MODE:compose`` it stops and starts Redpanda with docker compose.
...                 Each order's fate is read from the topic after the fault healed, never taken from the
...                 HTTP answer or the service's log: delivered, lost or indeterminate. A paused broker
...                 shows why: the publish times out, yet the event arrives later. With
...                 ``-v KAFKA_ENGINE:kafka`` or ``kafka-cluster`` the dedicated broker is Apache Kafka, and
...                 the faults only a real broker allows run too: the broker stopped and started (its
...                 log kept), and in the cluster the partition leader killed and two of three brokers
...                 down; on Tansu those tests skip, naming the engine they need.
...                 The filled-in report is ``lost-event-report.md`` beside ``log.html``.
Resource            ../resources/lost_event.resource
Suite Setup         Prepare The Lost Event Run    dual-write
Suite Teardown      Finish The Lost Event Run    expect_loss=${TRUE}
Test Tags           lost-event    dual-write


*** Test Cases ***
Infrastructure Is Healthy
    Infrastructure And The Database Should Be Ready

Service Runs Against A Broker The Suite Can Cut Off
    Service Should Run Against A Broker The Suite Can Cut Off    profiles=${EMPTY}
    ...    log=lost-event-service.log

Orders Are Published While The Broker Is Reachable
    ${order_id}=    Place An Order    baseline
    Order Should Be Delivered Within    ${order_id}    10s

Orders Are Accepted While The Broker Is Unreachable
    Place Orders While The Broker Is Unreachable

The Service Publishes Again Once The Broker Is Back
    Broker Should Be Back For The Service
    ${order_id}=    Place An Order    after
    Order Should Be Delivered Within    ${order_id}    10s

Orders Placed While The Broker Is Stopped Are Lost And Earlier Events Stay
    [Tags]    broker-restart
    Place Orders While The Broker Is Stopped
    Orders Of Phase Should Be    stopped    lost
    Orders Before The Fault Should Still Be Delivered

A Leader Failover Is Reported Order By Order
    [Tags]    leader-failover
    Place Orders Across A Leader Failover
    Classify Orders By Reading The Topic    healed=${TRUE}
    Log Fates Of Phase    failover

Orders Refused For Too Few In Sync Replicas Are Lost
    [Tags]    min-insync-replicas
    Place Orders With Two Of Three Brokers Down
    Orders Of Phase Should Be    under-replicated    lost

Events Of Orders Placed During The Outage Are Lost
    Fates Should Be Judged From The Topic    expect_loss=${TRUE}

A Timed Out Publish Is Indeterminate Until The Topic Is Read
    Timed Out Publish Should Be Indeterminate Until The Topic Is Read

Cleanup Stops The Service
    Stop Order Service
