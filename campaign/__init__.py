"""The chaos campaign: concurrent clients and a nemesis, a history, a final read, a pure checker.

``python -m campaign`` runs one (``runner``): service instances of its own (``services``),
clients (``clients``), faults on a seeded schedule (``schedule``, ``nemesis``) against the
servers it owns (``targets``), then the final read (``collect``) and the verdict. The checker
judges a run from two files only (``history.jsonl`` and ``final-read.json``), so a run can be
re-checked, or a hand-written history fed to it, without any server; ``page`` draws it.
"""
