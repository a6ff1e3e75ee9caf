"""The web dashboard and Prometheus exporter (`flowscope serve`; needs the `web` extra).

    hub.py       sources (recordings, live clusters polled by a thread each) and job feeds
    views.py     the JSON the page reads
    exporter.py  /metrics: a prometheus_client collector on its own registry
    app.py       the Starlette app: page, API, server-sent events, token, security headers
    cli.py       the `serve` command
    static/      the page; vendored libraries carry their version in the file name
"""
