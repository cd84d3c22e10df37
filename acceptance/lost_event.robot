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
...                 shows why: the publish times out, yet the event arrives later.
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

Events Of Orders Placed During The Outage Are Lost
    Fates Should Be Judged From The Topic    expect_loss=${TRUE}

A Timed Out Publish Is Indeterminate Until The Topic Is Read
    Timed Out Publish Should Be Indeterminate Until The Topic Is Read

Cleanup Stops The Service
    Stop Order Service
