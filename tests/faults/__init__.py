"""Fault injection for flowscope's live commands and parsers.

    replay.py   what a JobManager answers: a real recording's responses, poll by poll
    server.py   FaultServer: that replay over HTTP on 127.0.0.1, breaking some answers on purpose
    mutate.py   structural mutations of JSON bodies, byte-level damage to recording files
    runs.py     run a flowscope command against a FaultServer and measure how it fared
    fuzz.py     fuzz cases: mutated REST bodies through the collector, damaged recordings

Every answer served comes from the recordings in tests/fixtures (taken from a real Flink
cluster); faults and scenarios change those answers, they never invent a JobManager's data.
"""
