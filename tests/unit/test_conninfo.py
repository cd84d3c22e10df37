"""``service.conninfo``: no password survives in any form libpq takes, nor in libpq's errors."""

from __future__ import annotations

import psycopg2
import pytest

from embedded_stack.settings import PostgresAddress, redact
from service.__main__ import describe
from service.config import load_config
from service.conninfo import mask_password, scrub

SECRET = "Sup3r-s3cret"


@pytest.mark.parametrize(
    ("conninfo", "masked"),
    [
        # URI user-info.
        pytest.param(
            f"postgresql://qa:{SECRET}@db:5432/orders",
            "postgresql://qa:***@db:5432/orders",
            id="userinfo",
        ),
        pytest.param(
            f"postgres://qa:{SECRET}@db/orders", "postgres://qa:***@db/orders", id="postgres-scheme"
        ),
        pytest.param(
            "POSTGRESQL://QA:SECRET@DB/ORDERS", "POSTGRESQL://QA:***@DB/ORDERS", id="upper-case"
        ),
        pytest.param(
            "postgresql://qa:p%40ss@db/orders",
            "postgresql://qa:***@db/orders",
            id="percent-encoded",
        ),
        pytest.param(
            "postgresql://qa:p@ss@db/orders", "postgresql://qa:***@db/orders", id="unencoded-at"
        ),
        pytest.param(
            "postgresql://qa:p/ss@db/orders", "postgresql://qa:***@db/orders", id="unencoded-slash"
        ),
        pytest.param(
            "postgresql://qa:p?ss@db/orders", "postgresql://qa:***@db/orders", id="unencoded-mark"
        ),
        pytest.param("postgresql://:secret@db/orders", "postgresql://:***@db/orders", id="no-user"),
        pytest.param(
            f"postgresql://qa:{SECRET}@h1:5432,h2:5433/orders",
            "postgresql://qa:***@h1:5432,h2:5433/orders",
            id="several-hosts",
        ),
        pytest.param(
            f"postgresql://qa:{SECRET}@[::1]:5432/orders",
            "postgresql://qa:***@[::1]:5432/orders",
            id="ipv6",
        ),
        # URI query.
        pytest.param(
            f"postgresql://db/orders?password={SECRET}&user=qa",
            "postgresql://db/orders?password=***&user=qa",
            id="query",
        ),
        pytest.param(
            f"postgresql://db/orders?user=qa&pass%77ord={SECRET}&sslmode=disable",
            "postgresql://db/orders?user=qa&pass%77ord=***&sslmode=disable",
            id="query-percent-encoded-key",
        ),
        pytest.param(
            "postgresql://db/orders?password=a%20b&password=c&sslpassword=d",
            "postgresql://db/orders?password=***&password=***&sslpassword=***",
            id="query-several",
        ),
        pytest.param(
            f"postgresql://qa:{SECRET}@db/orders?password={SECRET}",
            "postgresql://qa:***@db/orders?password=***",
            id="userinfo-and-query",
        ),
        pytest.param(
            f"postgresql://db/orders?user=me@corp.example&password={SECRET}",
            "postgresql://db/orders?user=me@corp.example&password=***",
            id="query-value-with-at",
        ),
        # key=value.
        pytest.param(
            f"host=db password={SECRET} dbname=orders",
            "host=db password=*** dbname=orders",
            id="key-value",
        ),
        pytest.param(
            f"host=db password = {SECRET} user=qa",
            "host=db password = *** user=qa",
            id="key-value-spaces",
        ),
        pytest.param("password='p w' host=db", "password=*** host=db", id="key-value-quoted-blank"),
        pytest.param(
            r"password='it\'s \\ x' host=db",
            "password=*** host=db",
            id="key-value-quoted-escapes",
        ),
        pytest.param(
            r"password=a\ b host=db", "password=*** host=db", id="key-value-escaped-blank"
        ),
        pytest.param(
            "host=db\tpassword=x\nuser=qa", "host=db\tpassword=***\nuser=qa", id="key-value-tabs"
        ),
        pytest.param(f"PASSWORD={SECRET}", "PASSWORD=***", id="key-value-upper-case"),
        pytest.param("host=db sslpassword=k", "host=db sslpassword=***", id="sslpassword"),
        pytest.param("host=db password= user=qa", "host=db password= ***", id="empty-takes-next"),
        pytest.param("host=db password secret", "host=db ***", id="missing-equals"),
        pytest.param("password='open host=db", "password=***", id="unterminated-quote"),
        # Nothing to hide.
        pytest.param("postgresql://qa@db/orders", "postgresql://qa@db/orders", id="no-password"),
        pytest.param("postgresql://db/orders", "postgresql://db/orders", id="no-userinfo"),
        pytest.param("host=db user=qa dbname=orders", "host=db user=qa dbname=orders", id="kv"),
        pytest.param("", "", id="empty"),
    ],
)
def test_mask_password_hides_the_password_of_every_libpq_form(conninfo, masked):
    assert mask_password(conninfo) == masked


@pytest.mark.parametrize(
    "conninfo",
    [
        f"postgresql://qa:{SECRET}@db/orders",
        f"postgresql://db/orders?password={SECRET}",
        f"host=db password={SECRET}",
        f"host=db password='{SECRET}'",
    ],
)
def test_the_masked_form_still_parses_as_libpq_reads_it(conninfo):
    parsed = psycopg2.extensions.parse_dsn(mask_password(conninfo))

    assert parsed["password"] == "***"
    assert SECRET not in mask_password(conninfo)


def test_the_config_shows_its_database_url_masked():
    config = load_config({"MARS_DATABASE_URL": f"host=db password={SECRET}"})

    assert config.masked_database_url == "host=db password=***"


@pytest.mark.parametrize(
    "url",
    [
        f"postgresql://qa:{SECRET}@db/orders",
        f"postgresql://db/orders?user=qa&password={SECRET}",
        f"host=db user=qa password='{SECRET}'",
    ],
)
def test_the_start_line_shows_no_password(url):
    line = describe(load_config({"MARS_DATABASE_URL": url}), 8082)

    assert SECRET not in line
    assert "database=" in line and "***" in line


def test_the_embedded_stack_masks_with_the_same_function():
    assert redact is mask_password
    address = PostgresAddress.parse(f"postgresql://qa:{SECRET}@db/orders?password={SECRET}")

    assert SECRET not in address.display


@pytest.mark.parametrize(
    "conninfo",
    [
        "host=127.0.0.1 port=1 password=my secret",
        "host=127.0.0.1 password secret",
        "postgresql://qa:p/ss@127.0.0.1:1/orders",
    ],
)
def test_scrub_removes_the_pieces_of_a_password_that_libpq_quotes(conninfo):
    # libpq refuses these while parsing them, before any connection is tried.
    with pytest.raises(psycopg2.Error) as caught:
        psycopg2.connect(conninfo, connect_timeout=2)
    message = str(caught.value)

    scrubbed = scrub(message, conninfo)

    assert '"***"' in scrubbed
    for piece in ("secret", '"p"', "ss@"):
        assert piece not in scrubbed


def test_scrub_removes_the_tail_of_a_password_split_at_an_unencoded_at():
    # What libpq answers for this URI: it ends the user-info at the first "@".
    message = 'could not translate host name "ss@127.0.0.1" to address: Name or service not known'

    scrubbed = scrub(message, "postgresql://qa:p@ss@127.0.0.1:1/orders")

    assert scrubbed == 'could not translate host name "***" to address: Name or service not known'


def test_scrub_keeps_the_quoted_pieces_that_are_not_secrets():
    message = 'invalid URI query parameter: "foo"'

    assert scrub(message, f"postgresql://db/orders?password={SECRET}&foo=1") == message
