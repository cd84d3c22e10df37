"""Benchmarks of the order service against the raw limit of the machine it runs on.

``python bench/run.py`` is the entry point; see ``bench/README.md``. Not part of the test
command.
"""
