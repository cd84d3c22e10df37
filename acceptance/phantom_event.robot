*** Settings ***
Documentation       Proves the Dual Write "phantom event": an ``order.created`` event sits in Kafka for an
...                 order that PostgreSQL rolled back.
...
...                 The ten tests are the ten steps of the seed (chaos-phantom-event), in order, each
...                 tagged ``seed-step-N``. The service runs with the ``chaos`` profile, whose endpoint
...                 publishes the event and then forces the rollback. Every claim is checked where it
...                 lives: the database by SQL, Kafka by consuming the topic from a recorded baseline.
...                 The filled-in report is ``phantom-event-report.md`` beside ``log.html``.
...
...                 Repeat the phantom event with ``-v ITERATIONS:5``. Point the suite at other
...                 infrastructure with ``-v DATABASE_URL:...``, ``-v KAFKA_BOOTSTRAP_SERVERS:...`` and
...                 ``-v SERVICE_URL:...`` (``-v START_SERVICE:False`` to use a service that already runs).
...                 Other clients may write to the same tables and topic meanwhile: the verdict rests on
...                 this run's own orders, and the report explains any difference in the global counts.
Resource            ../resources/phantom_event.resource
Suite Setup         Prepare The Phantom Event Run
Suite Teardown      Finish The Phantom Event Run
Test Tags           phantom-event


*** Test Cases ***
Infrastructure Is Healthy
    [Tags]    seed-step-1
    Infrastructure Should Be Ready

Application Builds
    [Tags]    seed-step-2
    Application Should Build

Service Starts With The Chaos Profile
    [Tags]    seed-step-3
    Start Order Service With Chaos Profile
    Service Should Become Healthy    timeout=30s
    Chaos Endpoint Should Be Available

Baseline Of Orders And Events Is Recorded
    [Tags]    seed-step-4
    Record The Baseline Of Orders And Events

Phantom Event Is Triggered
    [Tags]    seed-step-5
    Trigger Phantom Events    ${ITERATIONS}
    Every Chaos Report Should Be As The Mode Expects

Phantom Orders Are Absent From PostgreSQL
    [Tags]    seed-step-6
    Phantom Orders Should Be Absent From The Database

Phantom Events Are Present In Kafka
    [Tags]    seed-step-7
    Phantom Events Should Be Present In Kafka

Side By Side Proof Confirms The Phantom Event
    [Tags]    seed-step-8
    ${verdict}=    Side By Side Proof Should Hold
    Should Be Equal    ${verdict}    PHANTOM EVENT CONFIRMED

Normal Orders Still Work
    [Tags]    seed-step-9
    Normal Order Should Be Stored And Published

Cleanup Stops The Service
    [Tags]    seed-step-10
    Clean Up What The Suite Started
