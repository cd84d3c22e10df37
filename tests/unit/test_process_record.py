"""ProcessRecord recognises a running process under either of its names, and no other."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import psutil
import pytest

from embedded_stack.polling import wait_until
from embedded_stack.processes import ProcessRecord

# Longer than the 15 characters the kernel keeps of a process's name.
LONG_NAME = "a-server-with-a-long-name"


@pytest.fixture
def long_named_process(tmp_path: Path) -> Iterator[psutil.Process]:
    program = tmp_path / LONG_NAME
    os.symlink(shutil.which("sleep"), program)
    child = subprocess.Popen([str(program), "30"])
    try:
        process = psutil.Process(child.pid)
        # Until the child has run exec, psutil sees the kernel's short name (or the
        # parent's): the very moment the fix is for. Records are taken once it has.
        wait_until(
            lambda: process.name() == LONG_NAME,
            timeout=10,
            what=f"the child to run as {LONG_NAME}",
            interval=0.01,
        )
        yield process
    finally:
        child.kill()
        child.wait()


def test_a_record_under_the_kernels_short_name_still_knows_its_process(long_named_process):
    whole = ProcessRecord.of(long_named_process.pid)
    short = replace(whole, name=LONG_NAME[:15])

    assert whole.name == LONG_NAME
    assert short.process() is not None
    assert short.is_running()


def test_a_record_under_another_name_is_another_process(long_named_process):
    whole = ProcessRecord.of(long_named_process.pid)

    assert replace(whole, name=LONG_NAME[:14]).process() is None
    assert replace(whole, name="a-server-with-a-longer-name").process() is None
    assert replace(whole, create_time=whole.create_time - 1).process() is None
