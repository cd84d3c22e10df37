"""What a machine without Java or Maven is told when it asks for the Apache Kafka engine."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from embedded_stack.apache_kafka.jars import (
    build_file_hash,
    java_binary,
    kafka_classpath,
    kafka_version,
)
from embedded_stack.errors import StackError
from embedded_stack.settings import StackSettings


def test_no_java_is_one_line_that_names_it_and_the_engine_that_needs_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))

    with pytest.raises(StackError) as raised:
        java_binary()

    message = str(raised.value)
    assert "\n" not in message
    assert "Java 17" in message and "no java was found" in message
    assert "Tansu" in message


def test_an_old_java_is_refused_with_its_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "jdk"
    (home / "bin").mkdir(parents=True)
    java = home / "bin" / "java"
    java.write_text("#!/bin/sh\necho 'openjdk version \"11.0.2\" 2019-01-15' >&2\n")
    java.chmod(java.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("JAVA_HOME", str(home))

    with pytest.raises(StackError, match=r"is Java 11;"):
        java_binary()


def test_no_maven_and_no_cached_classpath_names_maven(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))

    with pytest.raises(StackError) as raised:
        kafka_classpath(cache_dir=tmp_path / "cache")

    assert "no mvn is on PATH" in str(raised.value) and "Tansu" in str(raised.value)


def test_a_cached_classpath_with_a_missing_jar_is_not_trusted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / f"apache-kafka-{build_file_hash()}.classpath").write_text(str(tmp_path / "gone.jar"))

    with pytest.raises(StackError, match="no mvn"):
        kafka_classpath(cache_dir=cache)


def test_the_build_file_pins_a_kafka_4_version() -> None:
    major, minor, patch = kafka_version().split(".")
    assert major == "4" and minor.isdigit() and patch.isdigit()


def test_an_unknown_engine_is_refused_naming_the_known_ones() -> None:
    with pytest.raises(StackError, match="tansu, kafka, kafka-cluster"):
        StackSettings(kafka_engine="redpanda")


def test_the_engine_comes_from_the_environment() -> None:
    assert StackSettings.from_env({}).kafka_engine == "tansu"
    assert StackSettings.from_env({"MARS_KAFKA_ENGINE": "kafka-cluster"}).kafka_engine == (
        "kafka-cluster"
    )
