"""A bounded load on one HTTP route, for the benchmarks: p50 and p99
latency of sequential requests from one client, and requests per second
from CLIENTS clients at once. Bounded in count and in time; loopback only.

    python bench/http_load.py URL BODY_JSON [REQUESTS] [CLIENTS] [SECONDS]

Prints one JSON line."""

import http.client
import json
import socket
import statistics
import sys
import threading
import time
import urllib.parse

import numpy as np


def request(connection, path, body):
    connection.request("POST", path, body, {"Content-Type": "application/json"})
    response = connection.getresponse()
    response.read()
    if response.status != 200:
        raise SystemExit(f"{path} answered {response.status}")


def main(url, body, requests=200, clients=8, seconds=5.0):
    target = urllib.parse.urlsplit(url)
    if target.hostname not in ("127.0.0.1", "localhost", "::1"):
        raise SystemExit("loopback only")

    def connect():
        connection = http.client.HTTPConnection(target.hostname, target.port, timeout=30)
        connection.connect()
        # http.client writes the headers and the body in two sends: without
        # TCP_NODELAY the body waits for the server's delayed ACK (40 ms),
        # which would measure the client, not the server.
        connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return connection

    connection = connect()
    for _ in range(20):  # warm-up
        request(connection, target.path, body)
    latencies = []
    deadline = time.time() + 4 * seconds
    for _ in range(requests):
        started = time.perf_counter()
        request(connection, target.path, body)
        latencies.append(time.perf_counter() - started)
        if time.time() > deadline:
            break
    counts = [0] * clients
    stop = time.time() + seconds

    def client(i):
        own = connect()
        while time.time() < stop and counts[i] < 100_000:
            request(own, target.path, body)
            counts[i] += 1

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    print(json.dumps({
        "p50_ms": 1000 * statistics.median(latencies),
        "p99_ms": 1000 * float(np.percentile(latencies, 99)),
        "requests_per_s": sum(counts) / elapsed,
        "clients": clients, "sequential_requests": len(latencies),
    }))


if __name__ == "__main__":
    args = sys.argv[1:]
    main(args[0], args[1], *(int(a) for a in args[2:4]), *(float(a) for a in args[4:5]))
