package com.acme;

/** The record every scenario carries: a key, a sequence number and a payload. */
public class Event {
    public long key;
    public long seq;
    public String payload;

    public Event() {}

    public Event(long key, long seq, String payload) {
        this.key = key;
        this.seq = seq;
        this.payload = payload;
    }
}
