"""Databases of their own on a running PostgreSQL server, dropped after use."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import closing, contextmanager
from urllib.parse import urlsplit, urlunsplit

import psycopg2
from psycopg2 import sql


@contextmanager
def private_database(database_url: str, prefix: str = "outbox_test") -> Iterator[str]:
    """Create an empty database beside the one at ``database_url``; drop it afterwards.

    What runs there is out of reach of a service on the first database: its relay neither
    publishes nor counts the rows written there (notifications stay in their database too).
    """
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with closing(psycopg2.connect(database_url)) as admin:
        admin.autocommit = True
        with admin.cursor() as cursor:
            cursor.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        try:
            yield urlunsplit(urlsplit(database_url)._replace(path=f"/{name}"))
        finally:
            with admin.cursor() as cursor:
                cursor.execute(
                    sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name))
                )
