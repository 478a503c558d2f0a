"""The hardening runs: fuzzing, hostile files, crash loops, load and credit races.

Each module drives one run against real processes and returns its figures; ``bench.hardening_bench``
runs the long versions (``make bench-hardening``), ``tests/hardening`` the short ones.
"""
