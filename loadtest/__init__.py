"""Load-test harness: ``python -m loadtest SCENARIO``."""
