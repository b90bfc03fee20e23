"""Server latency and throughput vs. calling the same artifact in-process
(the floor), in one run; the Open Inference Protocol (V2) against
TF-Serving's API on the same server, for the small MLP and a 0.3 M-parameter
one, at batch 1 and 32. Prints JSON rows for bench/run.R.
Usage: python bench/serving.py <artifact> <runs> [<0.3 M-parameter artifact>]"""

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
medium_artifact = sys.argv[3] if len(sys.argv) > 3 else None
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

def wait_until_ready(port, process, log=None):
    deadline = time.time() + 300
    while True:
        if process.poll() is not None or time.time() > deadline:
            if log is not None:
                log.seek(0)
            sys.exit("the server did not start" + ("" if log is None else ":\n" + log.read()[-3000:]))
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            c.request("GET", "/v2/health/ready")
            if c.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)


def requests_latencies(port, route, text, n):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    for _ in range(50):  # warm-up
        connection.request("POST", route, text, {"Content-Type": "application/json"})
        connection.getresponse().read()
    out = []
    for _ in range(n):
        started = time.perf_counter()
        connection.request("POST", route, text, {"Content-Type": "application/json"})
        response = connection.getresponse()
        response.read()
        assert response.status == 200, response.status
        out.append(time.perf_counter() - started)
    return out


def throughput(port, route, text):
    counts = []
    end = time.time() + SECONDS

    def client():
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        n = 0
        while time.time() < end:
            connection.request("POST", route, text, {"Content-Type": "application/json"})
            connection.getresponse().read()
            n += 1
        counts.append(n)

    threads = [threading.Thread(target=client) for _ in range(CONCURRENCY)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(counts) / SECONDS


ms = 1000.0
port = free_port()
env = dict(os.environ, PYTHONPATH=os.path.join(os.path.dirname(HERE), "inst", "python"))
log = open(os.path.join(os.path.dirname(os.path.abspath(artifact)), "server.log"), "w+")
server = subprocess.Popen([sys.executable, "-m", "kerasexport.server", "--path", artifact,
                           "--name", "m", "--port", str(port), "--log-file", log.name + ".rotating"],
                          env=env, stdout=log, stderr=subprocess.STDOUT)
try:
    wait_until_ready(port, server, log)

    def inprocess_latencies(n):
        out = []
        for _ in range(n):
            started = time.perf_counter()
            predictor.predict({name: x})
            out.append(time.perf_counter() - started)
        return out

    inprocess_latencies(100)  # warm-up; requests_latencies() warms up the server
    p50_server, p99_server, p50_local, p99_local = [], [], [], []
    for _ in range(runs):
        s = requests_latencies(port, "/v1/models/m:predict", body, REQUESTS)
        l = inprocess_latencies(REQUESTS)
        p50_server.append(percentile(s, 50)); p99_server.append(percentile(s, 99))
        p50_local.append(percentile(l, 50)); p99_local.append(percentile(l, 99))

    def throughput_local():
        end, n = time.time() + SECONDS, 0
        while time.time() < end:
            predictor.predict({name: x})
            n += 1
        return n / SECONDS

    server_rps = statistics.median(throughput(port, "/v1/models/m:predict", body) for _ in range(max(1, runs // 2)))
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
    # V2 vs TF-Serving's API, same server process, same artifact and rows.
    def protocol_rows(path, label):
        local = Predictor(path)
        input_name = local.signature()["inputs"][0]["name"]
        v2_port = free_port()
        v2_server = subprocess.Popen(
            [sys.executable, "-m", "kerasexport.server", "--path", path, "--name", "m",
             "--port", str(v2_port), "--log-file", log.name + f".{label}"], env=env,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        out = []
        try:
            wait_until_ready(v2_port, v2_server)
            for batch in (1, 32):
                x = np.random.default_rng(batch).random((batch, 4)).round(4).astype("float32")
                bodies = {
                    "tf-serving": ("/v1/models/m:predict", json.dumps({"instances": x.tolist()})),
                    "v2": ("/v2/models/m/infer", json.dumps({"inputs": [{
                        "name": input_name, "shape": list(x.shape), "datatype": "FP32",
                        "data": x.reshape(-1).tolist()}]}))}
                measured = {}
                for protocol, (route, text) in bodies.items():
                    latencies = requests_latencies(v2_port, route, text, REQUESTS)
                    measured[protocol] = (percentile(latencies, 50), percentile(latencies, 99),
                                          throughput(v2_port, route, text))
                inprocess = []
                for _ in range(REQUESTS):
                    started = time.perf_counter()
                    local.predict({input_name: x})
                    inprocess.append(time.perf_counter() - started)
                local_p50 = percentile(inprocess, 50)
                tfs, v2 = measured["tf-serving"], measured["v2"]
                tag = f"{label}, batch {batch}"
                out += [
                    {"benchmark": f"V2 infer p50 latency, ms ({tag})",
                     "baseline": "TF-Serving API p50, same server", "baseline_value": tfs[0] * ms,
                     "value": v2[0] * ms, "target": "<= 1.10x", "met": v2[0] <= 1.10 * tfs[0]},
                    {"benchmark": f"V2 infer p99 latency, ms ({tag})",
                     "baseline": "TF-Serving API p99, same server", "baseline_value": tfs[1] * ms,
                     "value": v2[1] * ms, "target": "<= 1.10x", "met": v2[1] <= 1.10 * tfs[1]},
                    {"benchmark": f"V2 infer throughput, req/s ({tag}, {CONCURRENCY} clients)",
                     "baseline": "TF-Serving API, same server", "baseline_value": tfs[2],
                     "value": v2[2], "target": ">= 0.90x", "met": v2[2] >= 0.9 * tfs[2]},
                    {"benchmark": f"V2 infer p50 latency, ms ({tag})",
                     "baseline": "in-process call p50", "baseline_value": local_p50 * ms,
                     "value": v2[0] * ms, "target": "overhead <= 1 ms",
                     "met": (v2[0] - local_p50) * ms <= 1.0},
                ]
        finally:
            v2_server.terminate()
            v2_server.wait(10)
        return out

    protocol_results = protocol_rows(artifact, "small_mlp")
    if medium_artifact:
        protocol_results += protocol_rows(medium_artifact, "medium_mlp (0.3 M parameters)")
finally:
    server.terminate()
    server.wait(10)

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
rows += protocol_results
print(json.dumps(rows))
