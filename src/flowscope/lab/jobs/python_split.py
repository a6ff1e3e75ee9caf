"""A PyFlink job (thread mode) whose keyed Python UDF is the limit, fed unevenly (60/40).

Submitted by flowscope.lab.scenarios with `flink run -py`; arguments are key=value pairs:
    name=...        job name
    share=0.6       share of the records whose keys Flink sends to subtask 0 of `score`
    work=3000       Python loop iterations per record in `score`

The records carry 200 keys, none of them hot (each below 1% of the records), partitioned by
key modulo the parallelism: the even keys (subtask 0 at parallelism 2) get `share` of the
records together. At a higher parallelism the same keys spread over more subtasks: an uneven
but spreadable load, unlike a hot key.
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

    cut = round(share * 1000)

    def key_of(n: int) -> int:
        # 1000 slots: `cut` of them on the 100 even keys, the rest on the 100 odd ones.
        slot = (n * 7919) % 1000
        return 2 * (slot % 100) if slot < cut else 2 * (slot % 100) + 1

    numbers = env.from_source(NumberSequenceSource(0, 10**12),
                              WatermarkStrategy.no_watermarks(), "numbers")
    keyed = numbers.partition_custom(lambda key, parts: key % parts, key_of)
    scored = keyed.map(score, output_type=Types.LONG()).name("score")
    scored.filter(lambda x: x < 0).name("drop").print()
    env.execute(args.get("name", "flowscope-python-split"))


if __name__ == "__main__":
    main(sys.argv[1:])
