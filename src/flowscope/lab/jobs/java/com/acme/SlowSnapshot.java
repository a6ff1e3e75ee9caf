package com.acme;

import org.apache.flink.api.common.functions.RichMapFunction;
import org.apache.flink.api.common.state.ListState;
import org.apache.flink.api.common.state.ListStateDescriptor;
import org.apache.flink.runtime.state.FunctionInitializationContext;
import org.apache.flink.runtime.state.FunctionSnapshotContext;
import org.apache.flink.streaming.api.checkpoint.CheckpointedFunction;

/**
 * A cheap map whose synchronous checkpoint phase blocks: snapshotState() flushes to a slow
 * store for `stall` every checkpoint (like a synchronous flush of buffered writes). While it
 * blocks, the task takes no records and its inputs back up: backpressure upstream in bursts,
 * one per checkpoint.
 */
public class SlowSnapshot extends RichMapFunction<Event, Event> implements CheckpointedFunction {
    private final Work work;
    private final Work stall;
    private transient ListState<Long> counted;
    private long count;

    public SlowSnapshot(Work work, Work stall) {
        this.work = work;
        this.stall = stall;
    }

    @Override
    public Event map(Event e) {
        work.run(1.0);
        count++;
        return e;
    }

    @Override
    public void snapshotState(FunctionSnapshotContext ctx) throws Exception {
        flushToStore();
        counted.update(java.util.List.of(count));
    }

    /** The synchronous flush: stands for writing buffered data to an external store. */
    void flushToStore() {
        stall.run(1.0);
    }

    @Override
    public void initializeState(FunctionInitializationContext ctx) throws Exception {
        counted = ctx.getOperatorStateStore().getListState(
                new ListStateDescriptor<>("counted", Long.class));
        for (Long c : counted.get()) count += c;
    }
}
