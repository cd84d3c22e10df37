*** Settings ***
Documentation       The phantom-event proof, inverted: with the Transactional Outbox the same forced
...                 rollback leaves no event in Kafka.
...
...                 The service runs with the ``chaos`` and ``outbox`` profiles: the create-order use case
...                 writes the order and its ``order.created`` event into the outbox table in one
...                 transaction, and a relay publishes committed rows. The chaos endpoint rolls that
...                 transaction back. The topic is read after the relay completed two more passes, so an
...                 event it could have published would be there. A normal order shows the relay works.
...                 The filled-in report is ``outbox-phantom-event-report.md`` beside ``log.html``.
Resource            ../resources/phantom_event.resource
Suite Setup         Prepare The Phantom Event Run    expect_phantom=${FALSE}
Suite Teardown      Finish The Phantom Event Run    mode=outbox    profiles=chaos,outbox
...                     report=outbox-phantom-event-report.md
Test Tags           phantom-event    outbox


*** Test Cases ***
Infrastructure Is Healthy
    Infrastructure Should Be Ready

Service Starts With The Chaos And Outbox Profiles
    Start Order Service    profiles=chaos,outbox    log=outbox-service.log
    Service Should Become Healthy    timeout=30s
    Chaos Endpoint Should Be Available

Baseline Of Orders And Events Is Recorded
    Record The Baseline Of Orders And Events

Phantom Event Is Attempted Against The Outbox
    Trigger Phantom Events    ${ITERATIONS}
    Every Chaos Report Should Be As The Mode Expects

Rolled Back Orders Are Absent From PostgreSQL
    Phantom Orders Should Be Absent From The Database

No Event Reaches Kafka For A Rolled Back Order
    Rolled Back Orders Should Not Reach Kafka

Side By Side Proof Shows No Phantom Event
    ${verdict}=    Side By Side Proof Should Hold
    Should Be Equal    ${verdict}    NO PHANTOM EVENT

Normal Orders Are Still Published Through The Relay
    Normal Order Should Be Stored And Published

Cleanup Stops The Service
    Clean Up What The Suite Started
