package com.acme;

import java.util.concurrent.locks.LockSupport;

/** Per-record cost injected into a stage: on-CPU busy-wait or off-CPU parking. */
public final class Work implements java.io.Serializable {
    public final long micros;
    public final boolean offCpu;

    public Work(long micros, boolean offCpu) {
        this.micros = micros;
        this.offCpu = offCpu;
    }

    public static Work parse(String spec) {
        // "<micros>" or "<micros>:sleep" or "<micros>:cpu"
        if (spec == null || spec.isEmpty()) return new Work(0, false);
        String[] p = spec.split(":");
        return new Work(Long.parseLong(p[0]), p.length > 1 && p[1].equals("sleep"));
    }

    public void run(double factor) {
        long nanos = (long) (micros * 1000L * factor);
        if (nanos <= 0) return;
        if (offCpu) {
            block(nanos);
        } else {
            spin(nanos);
        }
    }

    static long sink;

    /** Burns CPU: stands for real computation. */
    static void spin(long nanos) {
        long end = System.nanoTime() + nanos;
        long x = 0;
        while (System.nanoTime() < end) {
            x += x * 31 + 7;
        }
        sink = x;
    }

    /** Waits off-CPU: stands for a call to an external system. */
    static void block(long nanos) {
        long end = System.nanoTime() + nanos;
        long left;
        while ((left = end - System.nanoTime()) > 0) {
            LockSupport.parkNanos(left);
        }
    }
}
