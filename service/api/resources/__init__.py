"""Falcon resources: one small class per URI."""
