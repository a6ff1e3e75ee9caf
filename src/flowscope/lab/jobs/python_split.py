"""A PyFlink job (thread mode) whose keyed Python UDF is the limit, fed unevenly (60/40).

Submitted by flowscope.lab.scenarios with `flink run -py`; arguments are key=value pairs:
    name=...        job name
    share=0.6       share of the records whose keys Flink sends to subtask 0 of `score`
    work=3000       Python loop iterations per record in `score`

The records carry 200 keys, none of them hot (each below 1% of the records); the keys that
Flink's key groups send to subtask 0 (at parallelism 2) get `share` of the records together.
At a higher parallelism the same keys spread over more subtasks: an uneven but spreadable
load, unlike a hot key.
"""

import sys

from pyflink.common import Configuration, Types, WatermarkStrategy
from pyflink.datastream import StreamExecutionEnvironment
from pyflink.datastream.connectors.number_seq import NumberSequenceSource


def _murmur(code: int) -> int:
    """Flink's MathUtils.murmurHash(int), which places a key in its key group."""
    def rotl(x: int, r: int) -> int:
        return ((x << r) | (x >> (32 - r))) & 0xFFFFFFFF

    h = (code * 0xCC9E2D51) & 0xFFFFFFFF
    h = rotl(h, 15)
    h = (h * 0x1B873593) & 0xFFFFFFFF
    h = rotl(h, 13)
    h = (h * 5 + 0xE6546B64) & 0xFFFFFFFF
    h ^= 4
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & 0xFFFFFFFF
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & 0xFFFFFFFF
    h ^= h >> 16
    signed = h - (1 << 32) if h >= 1 << 31 else h
    if signed >= 0:
        return signed
    return -signed if signed != -(1 << 31) else 0


def subtask_of(key: int, parallelism: int, max_parallelism: int = 128) -> int:
    """The subtask Flink sends an int key to (KeyGroupRangeAssignment)."""
    return (_murmur(key) % max_parallelism) * parallelism // max_parallelism


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

    first = [k for k in range(200) if subtask_of(k, 2) == 0]
    second = [k for k in range(200) if subtask_of(k, 2) == 1]
    cut = round(share * 1000)

    def key_of(n: int) -> int:
        # 1000 slots: `cut` of them spread over the first subtask's keys, the rest over the
        # second's, so each key carries at most a few slots (< 1% of the records).
        slot = (n * 7919) % 1000
        if slot < cut:
            return first[slot % len(first)]
        return second[(slot - cut) % len(second)]

    numbers = env.from_source(NumberSequenceSource(0, 10**12),
                              WatermarkStrategy.no_watermarks(), "numbers")
    keyed = numbers.key_by(key_of, key_type=Types.INT())
    scored = keyed.map(score, output_type=Types.LONG()).name("score")
    scored.filter(lambda x: x < 0).name("drop").print()
    env.execute(args.get("name", "flowscope-python-split"))


if __name__ == "__main__":
    main(sys.argv[1:])
