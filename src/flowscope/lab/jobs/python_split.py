"""A PyFlink job (thread mode) whose Python UDF is the limit, fed 60/40 by a custom partitioner.

Submitted by flowscope.lab.scenarios with `flink run -py`; arguments are key=value pairs:
    name=...        job name
    share=0.6       share of the records sent to subtask 0 of `score` (the rest to subtask 1)
    work=3000       Python loop iterations per record in `score`
"""

import sys

from pyflink.common import Configuration, Types, WatermarkStrategy
from pyflink.datastream import StreamExecutionEnvironment
from pyflink.datastream.connectors.number_seq import NumberSequenceSource


def main(argv: list[str]) -> None:
    args = dict(a.split("=", 1) for a in argv if "=" in a)
    share = float(args.get("share", "0.6"))
    work = int(args.get("work", "3000"))
    conf = Configuration()
    conf.set_string("python.execution-mode", "thread")
    env = StreamExecutionEnvironment.get_execution_environment(conf)
    env.set_parallelism(2)
    env.disable_operator_chaining()
    env.enable_checkpointing(10000)

    def score(n: int) -> int:
        # Burns CPU in Python: stands for a costly Python UDF.
        x = 0
        for i in range(work):
            x += (n * i) % 7
        return x

    cut = round(share * 100)
    numbers = env.from_source(NumberSequenceSource(0, 10**12),
                              WatermarkStrategy.no_watermarks(), "numbers")
    split = numbers.partition_custom(lambda key, parts: key % parts,
                                     lambda n: 0 if n % 100 < cut else 1)
    scored = split.map(score, output_type=Types.LONG()).name("score")
    scored.filter(lambda x: x < 0).name("drop").print()
    env.execute(args.get("name", "flowscope-python-split"))


if __name__ == "__main__":
    main(sys.argv[1:])
