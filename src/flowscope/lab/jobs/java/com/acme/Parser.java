package com.acme;

import org.apache.flink.api.common.functions.RichMapFunction;

/** The cheap first stage; its cost is configurable too. */
public class Parser extends RichMapFunction<Event, Event> {
    private final Work work;

    public Parser(Work work) {
        this.work = work;
    }

    @Override
    public Event map(Event e) {
        parse(e);
        return e;
    }

    void parse(Event e) {
        work.run(1.0);
    }
}
