"""The chaos campaign: a history of concurrent operations, a final read, and a pure checker.

The checker judges a run from two files only (``history.jsonl`` and ``final-read.json``), so a
run can be re-checked, or a hand-written history fed to it, without any server.
"""
