package com.acme;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

import org.apache.flink.api.connector.source.Boundedness;
import org.apache.flink.api.connector.source.ReaderOutput;
import org.apache.flink.api.connector.source.Source;
import org.apache.flink.api.connector.source.SourceOutput;
import org.apache.flink.api.connector.source.SourceReader;
import org.apache.flink.api.connector.source.SourceReaderContext;
import org.apache.flink.api.connector.source.SourceSplit;
import org.apache.flink.api.connector.source.SplitEnumerator;
import org.apache.flink.api.connector.source.SplitEnumeratorContext;
import org.apache.flink.core.io.InputStatus;
import org.apache.flink.core.io.SimpleVersionedSerializer;

/**
 * A source that reads an external queue, like a Kafka topic: records arrive in each split
 * (partition) at a fixed rate, and the reader emits them as fast as the job takes them. It
 * reports pendingRecords (arrived, not emitted yet) as a Kafka source reports its lag, and a
 * record's event time is its arrival time, so the emit lag grows when the job falls behind.
 * A split listed in idleSplits receives nothing: an idle partition, which holds back the
 * watermark of every task downstream unless the watermark strategy declares idleness.
 */
public class QueueSource implements Source<Event, QueueSource.Split, Integer> {
    private final int splits;
    private final double ratePerSplit;
    private final Set<Integer> idleSplits;
    private final long keys;
    private final int payload;

    public QueueSource(int splits, double ratePerSplit, Set<Integer> idleSplits, long keys,
                       int payload) {
        this.splits = splits;
        this.ratePerSplit = ratePerSplit;
        this.idleSplits = idleSplits;
        this.keys = keys;
        this.payload = payload;
    }

    @Override
    public Boundedness getBoundedness() {
        return Boundedness.CONTINUOUS_UNBOUNDED;
    }

    @Override
    public SourceReader<Event, Split> createReader(SourceReaderContext ctx) {
        return new Reader(ctx, ratePerSplit, idleSplits, keys, payload);
    }

    @Override
    public SplitEnumerator<Split, Integer> createEnumerator(SplitEnumeratorContext<Split> ctx) {
        return new Enumerator(ctx, splits);
    }

    @Override
    public SplitEnumerator<Split, Integer> restoreEnumerator(
            SplitEnumeratorContext<Split> ctx, Integer state) {
        return new Enumerator(ctx, splits);
    }

    @Override
    public SimpleVersionedSerializer<Split> getSplitSerializer() {
        return new SplitSerializer();
    }

    @Override
    public SimpleVersionedSerializer<Integer> getEnumeratorCheckpointSerializer() {
        return new IntSerializer();
    }

    /** One partition of the queue and how far the reader got in it. */
    public static class Split implements SourceSplit {
        final int id;
        long emitted;
        long startMs;

        Split(int id, long emitted, long startMs) {
            this.id = id;
            this.emitted = emitted;
            this.startMs = startMs;
        }

        @Override
        public String splitId() {
            return Integer.toString(id);
        }
    }

    /** Hands each reader the splits whose number maps to its subtask index. */
    static class Enumerator implements SplitEnumerator<Split, Integer> {
        private final SplitEnumeratorContext<Split> ctx;
        private final int splits;

        Enumerator(SplitEnumeratorContext<Split> ctx, int splits) {
            this.ctx = ctx;
            this.splits = splits;
        }

        @Override
        public void start() {}

        @Override
        public void handleSplitRequest(int subtask, String host) {}

        @Override
        public void addSplitsBack(List<Split> back, int subtask) {
            // The reader restarts from its checkpointed splits; nothing to re-assign here.
        }

        @Override
        public void addReader(int subtask) {
            int parallelism = ctx.currentParallelism();
            long now = System.currentTimeMillis();
            for (int i = subtask; i < splits; i += parallelism) {
                ctx.assignSplit(new Split(i, 0, now), subtask);
            }
        }

        @Override
        public Integer snapshotState(long checkpointId) {
            return splits;
        }

        @Override
        public void close() {}
    }

    static class Reader implements SourceReader<Event, Split> {
        private final SourceReaderContext ctx;
        private final double rate;
        private final Set<Integer> idle;
        private final long keys;
        private final String pad;
        // Read by the metric thread (pendingRecords) while the task thread adds splits.
        private final List<Split> assigned = new java.util.concurrent.CopyOnWriteArrayList<>();
        private final Map<Integer, SourceOutput<Event>> outputs = new HashMap<>();
        private final ScheduledExecutorService timer = Executors.newSingleThreadScheduledExecutor();
        private CompletableFuture<Void> available = CompletableFuture.completedFuture(null);
        private int next;

        Reader(SourceReaderContext ctx, double rate, Set<Integer> idle, long keys, int payload) {
            this.ctx = ctx;
            this.rate = rate;
            this.idle = idle;
            this.keys = keys;
            this.pad = "x".repeat(Math.max(0, payload));
        }

        @Override
        public void start() {
            ctx.metricGroup().setPendingRecordsGauge(this::pending);
        }

        private long arrived(Split s, long now) {
            if (idle.contains(s.id)) return 0;
            return (long) (rate * Math.max(0, now - s.startMs) / 1000.0);
        }

        long pending() {
            long now = System.currentTimeMillis();
            long sum = 0;
            for (Split s : assigned) sum += Math.max(0, arrived(s, now) - s.emitted);
            return sum;
        }

        @Override
        public InputStatus pollNext(ReaderOutput<Event> out) {
            long now = System.currentTimeMillis();
            for (int k = 0; k < assigned.size(); k++) {
                Split s = assigned.get((next + k) % assigned.size());
                if (s.emitted < arrived(s, now)) {
                    long ts = s.startMs + (long) (s.emitted * 1000.0 / rate);
                    long key = 1 + Math.floorMod(Scenario.mix(s.emitted * 31 + s.id), keys);
                    outputs.computeIfAbsent(s.id, id -> out.createOutputForSplit(s.splitId()))
                            .collect(new Event(key, s.emitted, pad), ts);
                    s.emitted++;
                    next = (next + k + 1) % assigned.size();
                    return InputStatus.MORE_AVAILABLE;
                }
            }
            // Nothing has arrived: wait a little instead of spinning (the task reads idle).
            available = new CompletableFuture<>();
            CompletableFuture<Void> f = available;
            timer.schedule(() -> f.complete(null), 5, TimeUnit.MILLISECONDS);
            return InputStatus.NOTHING_AVAILABLE;
        }

        @Override
        public List<Split> snapshotState(long checkpointId) {
            List<Split> copy = new ArrayList<>();
            for (Split s : assigned) copy.add(new Split(s.id, s.emitted, s.startMs));
            return copy;
        }

        @Override
        public CompletableFuture<Void> isAvailable() {
            return available;
        }

        @Override
        public void addSplits(List<Split> splits) {
            assigned.addAll(splits);
            available.complete(null);
        }

        @Override
        public void notifyNoMoreSplits() {}

        @Override
        public void close() {
            timer.shutdownNow();
        }
    }

    static class SplitSerializer implements SimpleVersionedSerializer<Split> {
        @Override
        public int getVersion() {
            return 1;
        }

        @Override
        public byte[] serialize(Split s) throws IOException {
            ByteArrayOutputStream bytes = new ByteArrayOutputStream();
            try (DataOutputStream out = new DataOutputStream(bytes)) {
                out.writeInt(s.id);
                out.writeLong(s.emitted);
                out.writeLong(s.startMs);
            }
            return bytes.toByteArray();
        }

        @Override
        public Split deserialize(int version, byte[] data) throws IOException {
            try (DataInputStream in = new DataInputStream(new ByteArrayInputStream(data))) {
                return new Split(in.readInt(), in.readLong(), in.readLong());
            }
        }
    }

    static class IntSerializer implements SimpleVersionedSerializer<Integer> {
        @Override
        public int getVersion() {
            return 1;
        }

        @Override
        public byte[] serialize(Integer v) {
            return new byte[] {(byte) (v >>> 24), (byte) (v >>> 16), (byte) (v >>> 8), (byte) (int) v};
        }

        @Override
        public Integer deserialize(int version, byte[] d) {
            return ((d[0] & 0xff) << 24) | ((d[1] & 0xff) << 16) | ((d[2] & 0xff) << 8) | (d[3] & 0xff);
        }
    }
}
