"""What the server counts, in Prometheus' text format at ``GET /metrics``
(as Triton and KServe expose theirs), with ``prometheus_client``:

    kerasexport_requests_total{model, version, protocol, code}
    kerasexport_request_duration_seconds{model, version, protocol}  histogram
    kerasexport_batch_size{model, version}          histogram of model runs
    kerasexport_model_loaded{model, version}        1 for a version served

``protocol`` is "rest" (TF-Serving's API and tfdeploy's route), "v2" (the
Open Inference Protocol over HTTP), "grpc" (TF-Serving's gRPC API) or
"v2-grpc"; ``code`` the HTTP status (or gRPC status name).
"""

# Latency buckets from 0.1 ms to 10 s: a small model answers in under a
# millisecond here, a large one in seconds.
LATENCY_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                   0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class Metrics:
    def __init__(self):
        import prometheus_client

        self.registry = prometheus_client.CollectorRegistry()
        self.requests = prometheus_client.Counter(
            "kerasexport_requests", "Requests answered, by model, version, protocol and status.",
            ["model", "version", "protocol", "code"], registry=self.registry)
        self.duration = prometheus_client.Histogram(
            "kerasexport_request_duration_seconds",
            "Time from a request's arrival to its answer, by model, version and protocol.",
            ["model", "version", "protocol"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self.batch_size = prometheus_client.Histogram(
            "kerasexport_batch_size", "Instances per model run (several requests when batched).",
            ["model", "version"], buckets=BATCH_BUCKETS, registry=self.registry)
        self.loaded = prometheus_client.Gauge(
            "kerasexport_model_loaded", "1 for each version loaded and served.",
            ["model", "version"], registry=self.registry)

    def request(self, model, version, protocol, code, seconds):
        model, version = model or "", "" if version is None else str(version)
        self.requests.labels(model, version, protocol, str(code)).inc()
        if seconds is not None:
            self.duration.labels(model, version, protocol).observe(seconds)

    def batch(self, model, version, rows):
        self.batch_size.labels(model, str(version)).observe(rows)

    def loaded_versions(self, models):
        for repository in models:
            for version in repository.loaded_versions():
                self.loaded.labels(repository.name, str(version)).set(1)

    def text(self):
        import prometheus_client

        return prometheus_client.generate_latest(self.registry)
