package com.acme;

import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.functions.RichMapFunction;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;

/**
 * Per key, reads a value from keyed state, changes it and writes it back: on the RocksDB
 * state backend with millions of keys, the reads and writes (native calls into RocksDB,
 * mostly missing its block cache) are where the time goes.
 */
public class StateCounter extends RichMapFunction<Event, Event> {
    private final int valueBytes;
    private transient ValueState<byte[]> total;

    public StateCounter(int valueBytes) {
        this.valueBytes = valueBytes;
    }

    @Override
    public void open(OpenContext ctx) {
        total = getRuntimeContext().getState(new ValueStateDescriptor<>("total", byte[].class));
    }

    @Override
    public Event map(Event e) throws Exception {
        byte[] value = total.value();
        if (value == null) value = new byte[valueBytes];
        value[(int) (e.seq % value.length)]++;
        total.update(value);
        return e;
    }
}
