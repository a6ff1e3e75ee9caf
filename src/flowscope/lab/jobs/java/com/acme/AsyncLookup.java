package com.acme;

import java.util.Collections;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.streaming.api.functions.async.ResultFuture;
import org.apache.flink.streaming.api.functions.async.RichAsyncFunction;

/**
 * An Async I/O lookup against a simulated external service that answers every request after
 * a fixed latency (a scheduler completes the future; no thread waits per request). With
 * capacity C requests in flight and latency L, a subtask completes at most C / L records per
 * second: fed faster, its task thread waits for a free slot in the operator's queue.
 */
public class AsyncLookup extends RichAsyncFunction<Event, Event> {
    private final long latencyMicros;
    private transient ScheduledExecutorService service;

    public AsyncLookup(long latencyMicros) {
        this.latencyMicros = latencyMicros;
    }

    @Override
    public void open(OpenContext ctx) {
        service = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "external-service");
            t.setDaemon(true);
            return t;
        });
    }

    @Override
    public void asyncInvoke(Event e, ResultFuture<Event> result) {
        callService(e, result);
    }

    /** The request: answered by the "service" after latencyMicros. */
    void callService(Event e, ResultFuture<Event> result) {
        service.schedule(() -> result.complete(Collections.singletonList(e)),
                latencyMicros, TimeUnit.MICROSECONDS);
    }

    @Override
    public void close() {
        if (service != null) service.shutdownNow();
    }
}
