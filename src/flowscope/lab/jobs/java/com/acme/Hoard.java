package com.acme;

import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.functions.RichMapFunction;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;

/**
 * Keeps the latest payload of every key in keyed state: with many keys and large payloads
 * the state outgrows what the JobManager's in-memory checkpoint storage accepts (5 MB per
 * subtask), so every checkpoint fails.
 */
public class Hoard extends RichMapFunction<Event, Event> {
    private transient ValueState<String> latest;

    @Override
    public void open(OpenContext ctx) {
        latest = getRuntimeContext().getState(new ValueStateDescriptor<>("latest", String.class));
    }

    @Override
    public Event map(Event e) throws Exception {
        latest.update(e.payload + e.seq);
        return e;
    }
}
