"""A SQL job (datagen -> filter/projection -> blackhole) whose source reports busy = NaN.

Submitted by flowscope.lab.scenarios with `flink run -py`; arguments are key=value pairs.
"""

import sys

from pyflink.table import EnvironmentSettings, TableEnvironment


def main(argv: list[str]) -> None:
    args = dict(a.split("=", 1) for a in argv if "=" in a)
    env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
    conf = env.get_config()
    conf.set("pipeline.name", args.get("name", "flowscope-sql"))
    conf.set("parallelism.default", args.get("parallelism", "2"))
    conf.set("pipeline.operator-chaining.enabled", "false")
    rate = int(args.get("rows-per-second", "2000"))
    env.execute_sql(
        f"""CREATE TABLE orders (id BIGINT, amount DOUBLE, customer STRING)
        WITH ('connector' = 'datagen', 'rows-per-second' = '{rate}',
              'fields.customer.length' = '16')"""
    )
    env.execute_sql(
        "CREATE TABLE sink_out (id BIGINT, amount DOUBLE) WITH ('connector' = 'blackhole')"
    )
    env.execute_sql(
        "INSERT INTO sink_out SELECT id, amount * 1.1 FROM orders WHERE amount > 0"
    )


if __name__ == "__main__":
    main(sys.argv[1:])
