"""flowscope: find where backpressure starts in an Apache Flink job, why, and what to do.

    import flowscope
    d = flowscope.diagnose_live("http://localhost:8081")      # a running job
    d = flowscope.diagnose_recording("run.fsrec")             # a recording
    for f in d.bottlenecks:
        print(f.vertex_name, f.cause, flowscope.words.summary(f))

The stages, in the order data flows: flink/ reads the REST API, recording stores polls,
analysis/ decides (pure), render/ and web/ draw, sampling drives the live loop, cli/ holds
the commands.
"""

from flowscope.analysis.engine import diagnose
from flowscope.analysis.findings import Cause, Diagnosis, Finding, Level, Verdict
from flowscope.api import diagnose_live, diagnose_recording, load_recording
from flowscope.errors import FlowscopeError
from flowscope.flink.rest import FlinkRestSource
from flowscope.recording import Recorder, Recording
from flowscope.render import words
from flowscope.sampling import LiveSession, ReplaySession

__version__ = "0.1.0"

__all__ = [
    "Cause",
    "Diagnosis",
    "Finding",
    "FlinkRestSource",
    "FlowscopeError",
    "Level",
    "LiveSession",
    "Recorder",
    "Recording",
    "ReplaySession",
    "Verdict",
    "diagnose",
    "diagnose_live",
    "diagnose_recording",
    "load_recording",
    "words",
]
