package com.acme;

import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.functions.RichMapFunction;

/**
 * The stage that usually carries the injected bottleneck. lookup() burns CPU,
 * callExternalService() blocks: the names are what a flame graph should show.
 */
public class Enricher extends RichMapFunction<Event, Event> {
    private final Work work;
    private final int slowSubtask;
    private final double slowFactor;
    private final int allocKb;
    private final int retainKb;
    private transient double factor;
    private transient java.util.ArrayDeque<byte[]> retained;

    public Enricher(Work work, int slowSubtask, double slowFactor, int allocKb, int retainKb) {
        this.work = work;
        this.slowSubtask = slowSubtask;
        this.slowFactor = slowFactor;
        this.allocKb = allocKb;
        this.retainKb = retainKb;
    }

    @Override
    public void open(OpenContext ctx) {
        int me = getRuntimeContext().getTaskInfo().getIndexOfThisSubtask();
        factor = me == slowSubtask ? slowFactor : 1.0;
        retained = new java.util.ArrayDeque<>();
    }

    @Override
    public Event map(Event e) {
        if (allocKb > 0) churn();
        if (work.offCpu) {
            callExternalService();
        } else {
            lookup();
        }
        return e;
    }

    void lookup() {
        work.run(factor);
    }

    void callExternalService() {
        work.run(factor);
    }

    /** Allocates and retains short-lived garbage to keep the collector busy. */
    void churn() {
        for (int i = 0; i < allocKb; i++) {
            retained.addLast(new byte[1024]);
        }
        while (retained.size() > retainKb) {
            retained.removeFirst();
        }
    }
}
