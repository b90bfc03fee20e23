"""Server latency and throughput vs. calling the same artifact in-process
(the floor), in one run. Prints JSON rows for bench/run.R.
Usage: python bench/serving.py <artifact> <runs>"""

import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "inst", "python"))
from kerasexport.predictor import Predictor  # noqa: E402

artifact, runs = sys.argv[1], int(sys.argv[2])
REQUESTS = 1000
CONCURRENCY = 8
SECONDS = 5.0


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentile(values, q):
    return float(np.percentile(np.asarray(values), q))


x = [[5.1, 3.5, 1.4, 0.2]]
body = json.dumps({"instances": x})
predictor = Predictor(artifact)
name = predictor.signature()["inputs"][0]["name"]

port = free_port()
env = dict(os.environ, PYTHONPATH=os.path.join(os.path.dirname(HERE), "inst", "python"))
log = open(os.path.join(os.path.dirname(os.path.abspath(artifact)), "server.log"), "w+")
server = subprocess.Popen([sys.executable, "-m", "kerasexport.server", "--path", artifact,
                           "--name", "m", "--port", str(port), "--log-file", log.name + ".rotating"],
                          env=env, stdout=log, stderr=subprocess.STDOUT)
try:
    deadline = time.time() + 300
    while True:
        if server.poll() is not None or time.time() > deadline:
            log.seek(0)
            sys.exit("the server did not start:\n" + log.read()[-3000:])
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            c.request("GET", "/v1/models/m")
            if c.getresponse().status == 200:
                break
        except OSError:
            pass
        time.sleep(0.2)

    def server_latencies(n):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        out = []
        for _ in range(n):
            started = time.perf_counter()
            connection.request("POST", "/v1/models/m:predict", body,
                               {"Content-Type": "application/json"})
            response = connection.getresponse()
            response.read()
            out.append(time.perf_counter() - started)
        return out

    def inprocess_latencies(n):
        out = []
        for _ in range(n):
            started = time.perf_counter()
            predictor.predict({name: x})
            out.append(time.perf_counter() - started)
        return out

    server_latencies(100)
    inprocess_latencies(100)  # warm-up
    p50_server, p99_server, p50_local, p99_local = [], [], [], []
    for _ in range(runs):
        s, l = server_latencies(REQUESTS), inprocess_latencies(REQUESTS)
        p50_server.append(percentile(s, 50)); p99_server.append(percentile(s, 99))
        p50_local.append(percentile(l, 50)); p99_local.append(percentile(l, 99))

    def throughput_server():
        counts = []
        end = time.time() + SECONDS

        def client():
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            n = 0
            while time.time() < end:
                connection.request("POST", "/v1/models/m:predict", body,
                                   {"Content-Type": "application/json"})
                connection.getresponse().read()
                n += 1
            counts.append(n)

        threads = [threading.Thread(target=client) for _ in range(CONCURRENCY)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return sum(counts) / SECONDS

    def throughput_local():
        end, n = time.time() + SECONDS, 0
        while time.time() < end:
            predictor.predict({name: x})
            n += 1
        return n / SECONDS

    server_rps = statistics.median(throughput_server() for _ in range(max(1, runs // 2)))
    local_rps = statistics.median(throughput_local() for _ in range(max(1, runs // 2)))

    # The largest request the server accepts (just under its 32 MiB limit):
    # the server's peak memory over its memory at rest, and how long a
    # status request waits while the large one is parsed, run and answered.
    def rss_mb(field):
        with open(f"/proc/{server.pid}/status") as status:
            for line in status:
                if line.startswith(field):
                    return int(line.split()[1]) / 1024
        return float("nan")

    limit = 32 * 1024 * 1024
    row_text = json.dumps([5.1234, 3.5123, 1.4123, 0.2123])
    rows_fitting = (limit - 64) // (len(row_text) + 2)
    large = ("{\"instances\": [" + ",".join([row_text] * rows_fitting) + "]}").encode()
    at_rest_mb = rss_mb("VmRSS")
    health_waits, large_seconds = [], []
    for _ in range(max(1, runs // 2)):
        done = threading.Event()

        def send_large():
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
            started = time.perf_counter()
            connection.request("POST", "/v1/models/m:predict", large,
                               {"Content-Type": "application/json"})
            response = connection.getresponse()
            response.read()
            large_seconds.append(time.perf_counter() - started)
            assert response.status == 200, response.status
            done.set()

        worker = threading.Thread(target=send_large)
        worker.start()
        health = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        while not done.is_set():
            started = time.perf_counter()
            health.request("GET", "/v1/models/m")
            health.getresponse().read()
            health_waits.append(time.perf_counter() - started)
            time.sleep(0.01)
        worker.join()
    peak_mb = rss_mb("VmHWM")
finally:
    server.terminate()
    server.wait(10)

ms = 1000.0
rows = [
    {"benchmark": "server p50 latency, ms (1 instance)", "baseline": "in-process call",
     "baseline_value": statistics.median(p50_local) * ms, "value": statistics.median(p50_server) * ms,
     "target": "overhead <= 1 ms",
     "met": (statistics.median(p50_server) - statistics.median(p50_local)) * ms <= 1.0},
    {"benchmark": "server p99 latency, ms (1 instance)", "baseline": "in-process call",
     "baseline_value": statistics.median(p99_local) * ms, "value": statistics.median(p99_server) * ms,
     "target": "", "met": None},
    {"benchmark": f"server throughput, req/s ({CONCURRENCY} clients)",
     "baseline": "in-process calls, 1 thread", "baseline_value": local_rps, "value": server_rps,
     "target": "", "met": None},
    {"benchmark": f"server peak memory, MB, largest accepted request ({len(large) / 2**20:.0f} MiB, "
                  f"{rows_fitting} rows)", "baseline": "the server at rest",
     "baseline_value": at_rest_mb, "value": peak_mb, "target": "", "met": None},
    {"benchmark": "status request p99 wait, ms, while the largest request runs",
     "baseline": "status request p50 at rest", "baseline_value": statistics.median(p50_server) * ms,
     "value": percentile(health_waits, 99) * ms, "target": "< 1000 ms",
     "met": percentile(health_waits, 99) < 1.0},
]
print(json.dumps(rows))
