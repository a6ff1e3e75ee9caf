package com.acme;

import org.apache.flink.api.connector.sink2.Sink;
import org.apache.flink.api.connector.sink2.SinkWriter;
import org.apache.flink.api.connector.sink2.WriterInitContext;

/** A Sink V2 whose writes cost a configurable time, like a slow external store. */
public class SlowSink implements Sink<Event> {
    private final Work work;

    public SlowSink(Work work) {
        this.work = work;
    }

    @Override
    public SinkWriter<Event> createWriter(WriterInitContext context) {
        return new Writer(work);
    }

    static final class Writer implements SinkWriter<Event> {
        private final Work work;
        long written;

        Writer(Work work) {
            this.work = work;
        }

        @Override
        public void write(Event element, Context context) {
            store(element);
        }

        void store(Event element) {
            work.run(1.0);
            written++;
        }

        @Override
        public void flush(boolean endOfInput) {}

        @Override
        public void close() {}
    }
}
