"""flowscope: find where backpressure starts in a Flink job, why, and what to do."""
