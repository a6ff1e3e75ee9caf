"""Profiling a job on demand: flame graphs, thread-dump sampling, TaskManager correlation,
latency markers and checkpoints as evidence for a diagnosis.

    flamegraph.py   pure: a flame graph response -> the hottest user frames, per operator
    threaddump.py   pure: thread dumps -> per-subtask busy / waiting / backpressured samples
    taskmanagers.py pure: TaskManager CPU, GC and heap joined to the subtasks each runs
    checkpoints.py  pure: checkpoint details -> barrier delay and alignment evidence
    collect.py      I/O: polls the flame graph and thread-dump endpoints with bounded waits
    report.py       the whole profile as data, and as a dict for --json
    render.py       the profile for a terminal
    cli.py          `flowscope profile`

The latency-marker analysis lives with the other pure analyses in flowscope.analysis.latency.
"""
