"""A PyFlink job whose Python map UDF is the bottleneck, for profiling fixtures.

Submitted by scripts/capture_profiling_fixtures.py with `flink run -py`; key=value arguments:
    name=...          job name
    mode=process      python.execution-mode: process (Beam worker) or thread (pemja)
"""

import sys

from pyflink.common import Configuration, Types, WatermarkStrategy
from pyflink.datastream import StreamExecutionEnvironment
from pyflink.datastream.connectors.number_seq import NumberSequenceSource


def score(n: int) -> int:
    """Burns CPU in Python: stands for a costly Python UDF."""
    x = 0
    for i in range(3000):
        x += (n * i) % 7
    return x


def main(argv: list[str]) -> None:
    args = dict(a.split("=", 1) for a in argv if "=" in a)
    conf = Configuration()
    conf.set_string("python.execution-mode", args.get("mode", "process"))
    env = StreamExecutionEnvironment.get_execution_environment(conf)
    env.set_parallelism(1)
    env.disable_operator_chaining()
    numbers = env.from_source(NumberSequenceSource(0, 10**12),
                              WatermarkStrategy.no_watermarks(), "numbers")
    scored = numbers.map(score, output_type=Types.LONG()).name("score")
    scored.filter(lambda x: x < 0).name("drop").print()
    env.execute(args.get("name", "flowscope-python-udf"))


if __name__ == "__main__":
    main(sys.argv[1:])
