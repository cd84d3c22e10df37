"""Reading the evidence where it lives: the topic, after the fact, from recorded positions.

Shared by the integration tests, the demo and the acceptance suite's keyword libraries.
"""
