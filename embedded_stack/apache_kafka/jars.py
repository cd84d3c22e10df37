"""Java and the Apache Kafka jars: found once, by Maven, from the build file beside this module.

Maven keeps the jars in its local repository; the classpath it computes is cached in the
user's cache folder under the build file's hash, so a second start runs no Maven at all.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from embedded_stack.errors import StackError

logger = logging.getLogger(__name__)

BUILD_FILE = Path(__file__).with_name("pom.xml")
LOG_CONFIG = Path(__file__).with_name("log4j2.properties")
MINIMUM_JAVA = 17
_RESOLVE_TIMEOUT = 900.0
_TANSU_HINT = "the Tansu engine (KAFKA_ENGINE tansu, the default) needs neither Java nor Maven"


def kafka_version() -> str:
    """Return the Apache Kafka version the build file pins."""
    match = re.search(r"<kafka\.version>([^<]+)</kafka\.version>", BUILD_FILE.read_text())
    assert match, f"{BUILD_FILE} names no kafka.version"
    return match.group(1)


def java_binary() -> str:
    """Return the ``java`` to run the broker with: ``$JAVA_HOME/bin/java``, else the PATH's.

    Raises:
        StackError: No Java, or one older than 17, in one line that names what is missing.
    """
    home = os.environ.get("JAVA_HOME")
    java = str(Path(home) / "bin" / "java") if home else shutil.which("java")
    if not java or not Path(java).exists():
        raise StackError(
            f"Apache Kafka needs Java {MINIMUM_JAVA} or newer, and no java was found "
            f"(JAVA_HOME or PATH); {_TANSU_HINT}"
        )
    version = _java_feature_version(java)
    if version < MINIMUM_JAVA:
        raise StackError(
            f"Apache Kafka needs Java {MINIMUM_JAVA} or newer, and {java} is Java {version}; "
            f"set JAVA_HOME to a newer one, or use {_TANSU_HINT}"
        )
    return java


def kafka_classpath(cache_dir: Path | None = None) -> str:
    """Return the broker's classpath, asking Maven only if no cached one is complete.

    Args:
        cache_dir: Where the computed classpath is kept; default the user's cache folder.

    Raises:
        StackError: Maven is missing or could not resolve the jars (its last lines quoted).
    """
    cached = (cache_dir or _default_cache_dir()) / f"apache-kafka-{build_file_hash()}.classpath"
    if cached.exists():
        classpath = cached.read_text().strip()
        if classpath and all(Path(jar).exists() for jar in classpath.split(os.pathsep)):
            return classpath
    classpath = _resolve_with_maven()
    cached.parent.mkdir(parents=True, exist_ok=True)
    cached.write_text(classpath)
    return classpath


def _resolve_with_maven() -> str:
    maven = shutil.which("mvn")
    if maven is None:
        raise StackError(
            f"Apache Kafka's jars are resolved by Maven, and no mvn is on PATH; {_TANSU_HINT}"
        )
    logger.info("Resolving Apache Kafka %s with Maven (once)", kafka_version())
    with tempfile.TemporaryDirectory() as scratch:
        output = Path(scratch) / "classpath.txt"
        command = [
            maven, "--batch-mode", "--quiet", "--file", str(BUILD_FILE),
            "dependency:build-classpath", f"-Dmdep.outputFile={output}",
        ]  # fmt: skip
        try:
            result = subprocess.run(
                command, capture_output=True, text=True, timeout=_RESOLVE_TIMEOUT, check=False
            )
        except subprocess.TimeoutExpired as ex:
            raise StackError(f"Maven did not resolve Apache Kafka within {ex.timeout:g} s") from ex
        if result.returncode != 0 or not output.exists():
            tail = " | ".join((result.stdout + result.stderr).strip().splitlines()[-5:])
            raise StackError(f"Maven could not resolve Apache Kafka's jars: {tail}")
        return output.read_text().strip()


def _java_feature_version(java: str) -> int:
    try:
        result = subprocess.run(
            [java, "-version"], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as ex:
        raise StackError(f"{java} -version failed: {ex}; {_TANSU_HINT}") from ex
    # 'openjdk version "17.0.15"', 'java version "1.8.0_402"': the feature version.
    match = re.search(r'version "(?:1\.)?(\d+)', result.stderr + result.stdout)
    if match is None:
        raise StackError(f"cannot read the version of {java}: {result.stderr.strip()}")
    return int(match.group(1))


def build_file_hash() -> str:
    """Return the key of the cached classpath: the build file's content hash."""
    return hashlib.sha256(BUILD_FILE.read_bytes()).hexdigest()[:16]


def _default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "mars-dual-write-chaos"
