package com.acme;

import java.time.Duration;
import java.util.HashMap;
import java.util.Map;

import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.connector.source.util.ratelimit.RateLimiterStrategy;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.connector.datagen.source.DataGeneratorSource;
import org.apache.flink.connector.datagen.source.GeneratorFunction;
import org.apache.flink.streaming.api.datastream.AsyncDataStream;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.functions.co.CoProcessFunction;
import org.apache.flink.streaming.api.functions.windowing.ProcessWindowFunction;
import org.apache.flink.streaming.api.windowing.assigners.TumblingEventTimeWindows;
import org.apache.flink.streaming.api.windowing.assigners.TumblingProcessingTimeWindows;
import org.apache.flink.streaming.api.windowing.windows.TimeWindow;
import org.apache.flink.util.Collector;

/**
 * A job with an injected, known bottleneck. Arguments are key=value pairs:
 *
 * <pre>
 *   name=...              job name
 *   topology=pipeline     pipeline | window | window-map | join | head | eventtime | async |
 *                         stall | hoard | state
 *                         window-map: a processing-time window (window-ms, window-cost per
 *                         element when it fires) whose output goes through enrich
 *                         head: the source chained with enrich (the limit is the first task);
 *                         eventtime: event-time tumbling windows of window-ms after the source
 *                         async: parse, then "lookup", an Async I/O operator (capacity requests
 *                         in flight) calling a service that answers after lookup-latency-us
 *                         stall: parse, then "flush", whose snapshotState blocks for
 *                         snapshot-stall every checkpoint
 *                         hoard: keyed by key, "hoard" keeps each key's latest payload in state
 *                         state: keyed by key, "count" reads and writes a value-bytes value in
 *                         keyed state per record (state-backend=rocksdb for the RocksDB cost)
 *   source=datagen        datagen (rate-limited generator) | queue (an external queue with
 *                         splits, pendingRecords and event time = arrival time)
 *   splits=4              queue: partitions; rate is shared between the non-idle ones
 *   idle-splits=          queue: comma-separated partitions that receive nothing
 *   idleness-ms=0         eventtime: WatermarkStrategy.withIdleness (0 = none)
 *   parallelism=2         default parallelism
 *   rate=1000             source records per second in total (0 = unlimited)
 *   keys=1000             distinct keys (key values key-base .. key-base + keys - 2, and 0
 *                         for the hot key of skew)
 *   key-base=1            the smallest key value (Flink's hash sends keys 3 and 4 to different
 *                         subtasks at parallelism 2)
 *   skew=0.0              fraction of records that carry the hot key 0
 *   payload=32            payload bytes per record
 *   parse=0               per-record cost of "parse", micros[:sleep|:cpu]
 *   enrich=0              per-record cost of "enrich"
 *   sink=0                per-record cost of the sink
 *   slow-subtask=-1       index of the enrich subtask that is slower
 *   slow-factor=1.0       how much slower
 *   chain=false           chain parse and enrich into one vertex
 *   alloc-kb=0            garbage allocated per record in enrich
 *   retain-mb=64          how much of that garbage enrich keeps alive (the GC's live set)
 *   window-ms=0           window size for topology=window
 *   window-cost=0         per-element cost when a window fires, micros[:sleep]
 *   window-emit=summary   summary: one record per key and window; all: every element, after
 *                         the whole window is computed (a burst for the next operator)
 *   checkpoint-ms=10000   checkpoint interval (0 = off)
 *   enrich-parallelism=0  parallelism of enrich (0 = default)
 *   buffer-timeout-ms     execution.buffer-timeout (0 = flush after every record)
 *   capacity=10           async: requests in flight per subtask (the operator's queue)
 *   lookup-latency-us=20000  async: the service's latency per request
 *   async-mode=unordered  async: unordered | ordered (AsyncDataStream.unorderedWait / orderedWait)
 *   async-timeout-ms=60000   async: request timeout
 *   snapshot-stall=0      stall: time snapshotState blocks, micros[:sleep]
 *   value-bytes=100       state: bytes of the value read and written per record
 *   state-backend=        the job's state backend (hashmap | rocksdb | forst; empty: the
 *                         cluster's default)
 *   restart-delay-ms=-1   >= 0: restart forever (fixed-delay) with this delay; -1: the cluster's
 *                         restart strategy
 *   tolerable-failures=-1 >= 0: failed checkpoints tolerated before the job fails over
 *   checkpoint-storage=   jobmanager | filesystem (empty: the cluster's default, the
 *                         JobManager's memory, at most 5 MB of state per subtask)
 *   checkpoint-dir=       filesystem: where checkpoints go (a file:// URI)
 *   incremental=false     incremental checkpoints (RocksDB, ForSt)
 * </pre>
 */
public class Scenario {
    static long keyBase = 1;

    public static void main(String[] args) throws Exception {
        Map<String, String> a = new HashMap<>();
        for (String arg : args) {
            int eq = arg.indexOf('=');
            if (eq > 0) a.put(arg.substring(0, eq), arg.substring(eq + 1));
        }
        String name = a.getOrDefault("name", "flowscope-scenario");
        String topology = a.getOrDefault("topology", "pipeline");
        int parallelism = Integer.parseInt(a.getOrDefault("parallelism", "2"));
        long rate = Long.parseLong(a.getOrDefault("rate", "1000"));
        long keys = Long.parseLong(a.getOrDefault("keys", "1000"));
        double skew = Double.parseDouble(a.getOrDefault("skew", "0"));
        keyBase = Long.parseLong(a.getOrDefault("key-base", "1"));
        int payload = Integer.parseInt(a.getOrDefault("payload", "32"));
        Work parse = Work.parse(a.get("parse"));
        Work enrich = Work.parse(a.get("enrich"));
        Work sink = Work.parse(a.get("sink"));
        int slowSubtask = Integer.parseInt(a.getOrDefault("slow-subtask", "-1"));
        double slowFactor = Double.parseDouble(a.getOrDefault("slow-factor", "1"));
        boolean chain = Boolean.parseBoolean(a.getOrDefault("chain", "false"));
        int allocKb = Integer.parseInt(a.getOrDefault("alloc-kb", "0"));
        int retainKb = 1024 * Integer.parseInt(a.getOrDefault("retain-mb", "64"));
        long windowMs = Long.parseLong(a.getOrDefault("window-ms", "0"));
        Work windowCost = Work.parse(a.get("window-cost"));
        boolean emitAll = a.getOrDefault("window-emit", "summary").equals("all");
        long checkpointMs = Long.parseLong(a.getOrDefault("checkpoint-ms", "10000"));
        int enrichParallelism = Integer.parseInt(a.getOrDefault("enrich-parallelism", "0"));
        long bufferTimeoutMs = Long.parseLong(a.getOrDefault("buffer-timeout-ms", "-2"));
        String sourceKind = a.getOrDefault("source", "datagen");
        int splits = Integer.parseInt(a.getOrDefault("splits", "4"));
        java.util.Set<Integer> idleSplits = new java.util.HashSet<>();
        for (String id : a.getOrDefault("idle-splits", "").split(",")) {
            if (!id.isBlank()) idleSplits.add(Integer.parseInt(id.trim()));
        }
        long idlenessMs = Long.parseLong(a.getOrDefault("idleness-ms", "0"));
        int capacity = Integer.parseInt(a.getOrDefault("capacity", "10"));
        long lookupLatencyUs = Long.parseLong(a.getOrDefault("lookup-latency-us", "20000"));
        boolean ordered = a.getOrDefault("async-mode", "unordered").equals("ordered");
        long asyncTimeoutMs = Long.parseLong(a.getOrDefault("async-timeout-ms", "60000"));
        Work snapshotStall = Work.parse(a.get("snapshot-stall"));
        int valueBytes = Integer.parseInt(a.getOrDefault("value-bytes", "100"));
        String stateBackend = a.getOrDefault("state-backend", "");
        long restartDelayMs = Long.parseLong(a.getOrDefault("restart-delay-ms", "-1"));
        int tolerableFailures = Integer.parseInt(a.getOrDefault("tolerable-failures", "-1"));
        String checkpointStorage = a.getOrDefault("checkpoint-storage", "");
        String checkpointDir = a.getOrDefault("checkpoint-dir", "");
        boolean incremental = Boolean.parseBoolean(a.getOrDefault("incremental", "false"));

        Configuration conf = new Configuration();
        if (!stateBackend.isEmpty()) conf.setString("state.backend.type", stateBackend);
        if (!checkpointStorage.isEmpty()) {
            conf.setString("execution.checkpointing.storage", checkpointStorage);
        }
        if (!checkpointDir.isEmpty()) conf.setString("execution.checkpointing.dir", checkpointDir);
        if (incremental) conf.setString("execution.checkpointing.incremental", "true");
        if (restartDelayMs >= 0) {
            conf.setString("restart-strategy.type", "fixed-delay");
            conf.setString("restart-strategy.fixed-delay.attempts", "1000000");
            conf.setString("restart-strategy.fixed-delay.delay", restartDelayMs + " ms");
        }
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment(conf);
        env.setParallelism(parallelism);
        if (!chain && !topology.equals("head")) env.disableOperatorChaining();
        if (checkpointMs > 0) env.enableCheckpointing(checkpointMs);
        if (tolerableFailures >= 0) {
            env.getCheckpointConfig().setTolerableCheckpointFailureNumber(tolerableFailures);
        }
        if (bufferTimeoutMs >= -1) env.setBufferTimeout(bufferTimeoutMs);

        DataStream<Event> events;
        if (sourceKind.equals("queue")) {
            int live = Math.max(1, splits - idleSplits.size());
            WatermarkStrategy<Event> wm = WatermarkStrategy
                    .<Event>forBoundedOutOfOrderness(Duration.ofMillis(500))
                    .withTimestampAssigner((e, ts) -> ts);
            if (idlenessMs > 0) wm = wm.withIdleness(Duration.ofMillis(idlenessMs));
            events = env.fromSource(
                    new QueueSource(splits, (double) rate / live, idleSplits, keys, payload),
                    wm, "queue").uid("src-queue");
        } else {
            events = source(env, "gen", rate, keys, skew, payload, 1);
        }
        DataStream<Event> out;
        switch (topology) {
            case "window-map":
                out = events.keyBy(e -> e.key)
                        .window(TumblingProcessingTimeWindows.of(Duration.ofMillis(windowMs)))
                        .process(new WindowSummary(windowCost, emitAll)).name("window")
                        .uid("window")
                        .rebalance()
                        .map(new Enricher(enrich, slowSubtask, slowFactor, allocKb, retainKb))
                        .name("enrich").uid("enrich");
                break;
            case "head":
                // No rebalance: the source and enrich form one chained vertex, the first task.
                out = events
                        .map(new Enricher(enrich, slowSubtask, slowFactor, allocKb, retainKb))
                        .name("enrich").uid("enrich");
                break;
            case "eventtime":
                out = events.keyBy(e -> e.key)
                        .window(TumblingEventTimeWindows.of(Duration.ofMillis(windowMs)))
                        .process(new WindowSummary(windowCost, false)).name("window").uid("window");
                break;
            case "window":
                out = events.rebalance()
                        .map(new Parser(parse)).name("parse").uid("parse")
                        .keyBy(e -> e.key)
                        .window(TumblingProcessingTimeWindows.of(Duration.ofMillis(windowMs)))
                        .process(new WindowSummary(windowCost, false)).name("window").uid("window");
                break;
            case "join":
                DataStream<Event> orders = events.rebalance()
                        .map(new Enricher(enrich, slowSubtask, slowFactor, allocKb, retainKb))
                        .name("enrich orders").uid("enrich-orders");
                DataStream<Event> users = source(env, "users", rate, keys, 0, payload, 2)
                        .rebalance()
                        .map(new Parser(parse)).name("parse users").uid("parse-users");
                out = orders.connect(users)
                        .keyBy(e -> e.key, e -> e.key)
                        .process(new Join()).name("join").uid("join");
                break;
            case "async":
                DataStream<Event> toLookup = events.rebalance()
                        .map(new Parser(parse)).name("parse").uid("parse")
                        .rebalance();
                AsyncLookup lookup = new AsyncLookup(lookupLatencyUs);
                out = (ordered
                        ? AsyncDataStream.orderedWait(toLookup, lookup, asyncTimeoutMs,
                                java.util.concurrent.TimeUnit.MILLISECONDS, capacity)
                        : AsyncDataStream.unorderedWait(toLookup, lookup, asyncTimeoutMs,
                                java.util.concurrent.TimeUnit.MILLISECONDS, capacity))
                        .name("lookup").uid("lookup");
                break;
            case "stall":
                out = events.rebalance()
                        .map(new Parser(parse)).name("parse").uid("parse")
                        .rebalance()
                        .map(new SlowSnapshot(enrich, snapshotStall)).name("flush").uid("flush");
                break;
            case "hoard":
                out = events.rebalance()
                        .map(new Parser(parse)).name("parse").uid("parse")
                        .keyBy(e -> e.key)
                        .map(new Hoard()).name("hoard").uid("hoard");
                break;
            case "state":
                out = events.rebalance()
                        .map(new Parser(parse)).name("parse").uid("parse")
                        .keyBy(e -> e.key)
                        .map(new StateCounter(valueBytes)).name("count").uid("count");
                break;
            default:
                DataStream<Event> parsed = events.rebalance()
                        .map(new Parser(parse)).name("parse").uid("parse");
                DataStream<Event> keyed = chain ? parsed : parsed.keyBy(e -> e.key);
                var enriched = keyed
                        .map(new Enricher(enrich, slowSubtask, slowFactor, allocKb, retainKb))
                        .name("enrich").uid("enrich");
                if (enrichParallelism > 0) enriched.setParallelism(enrichParallelism);
                out = enriched;
        }
        out.rebalance().sinkTo(new SlowSink(sink)).name("out").uid("out");
        env.execute(name);
    }

    static DataStream<Event> source(
            StreamExecutionEnvironment env, String name, long rate, long keys, double skew,
            int payload, int seed) {
        String pad = "x".repeat(Math.max(0, payload));
        long base = keyBase;
        GeneratorFunction<Long, Event> gen = i -> {
            long h = mix(i * 0x9E3779B97F4A7C15L + seed);
            double u = (h >>> 11) * 0x1.0p-53;
            long key = u < skew ? 0 : base + Math.floorMod(mix(h), Math.max(1, keys - 1));
            return new Event(key, i, pad);
        };
        RateLimiterStrategy limit = rate > 0
                ? RateLimiterStrategy.perSecond(rate) : RateLimiterStrategy.noOp();
        DataGeneratorSource<Event> src = new DataGeneratorSource<>(
                gen, Long.MAX_VALUE, limit, TypeInformation.of(Event.class));
        return env.fromSource(src, WatermarkStrategy.noWatermarks(), name).uid("src-" + name);
    }

    static long mix(long z) {
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }

    /** Summarises a window when it fires; the per-element cost lands all at once. */
    public static class WindowSummary extends ProcessWindowFunction<Event, Event, Long, TimeWindow> {
        private final Work cost;
        private final boolean emitAll;

        WindowSummary(Work cost, boolean emitAll) {
            this.cost = cost;
            this.emitAll = emitAll;
        }

        @Override
        public void process(Long key, Context ctx, Iterable<Event> elements, Collector<Event> out) {
            long n = 0;
            Event last = null;
            for (Event e : elements) {
                cost.run(1.0);
                n++;
                last = e;
            }
            if (emitAll) {
                for (Event e : elements) out.collect(e);
            } else if (last != null) {
                out.collect(new Event(key, n, last.payload));
            }
        }
    }

    /** Joins the two branches by key, forwarding everything. */
    public static class Join extends CoProcessFunction<Event, Event, Event> {
        @Override
        public void processElement1(Event e, Context ctx, Collector<Event> out) {
            out.collect(e);
        }

        @Override
        public void processElement2(Event e, Context ctx, Collector<Event> out) {
            out.collect(e);
        }
    }
}
