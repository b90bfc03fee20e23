"""Adaptive batching, measured: throughput and p50/p99 latency of batch-1
requests from 1, 8 and 32 concurrent clients (wrk, over loopback, 5 s
each), against the same server without batching, taking turns; a SavedModel
and an ONNX file of a small and a medium MLP.

    python bench/batching.py OUT.csv [SECONDS]

Needs wrk (Debian's package). Prints one JSON row per measurement."""

import csv
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "inst", "python"))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "inst", "python", "tests"))
sys.path.insert(0, HERE)

CLIENTS = (1, 8, 32)
MAX_BATCH_SIZE = 32


def start(path, name, batching):
    from conftest import free_port

    port = free_port()
    log = tempfile.NamedTemporaryFile(prefix="kerasexport-bench-", suffix=".log", delete=False)
    args = [sys.executable, "-m", "kerasexport.server", "--path", path, "--name", name,
            "--port", str(port), "--log-file", log.name]
    if batching:
        args += ["--max-batch-size", str(MAX_BATCH_SIZE)]
    process = subprocess.Popen(args, env=dict(os.environ, PYTHONPATH=os.path.join(
        os.path.dirname(HERE), "inst", "python")), stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 120
    while True:
        try:
            with urllib.request.urlopen(f"{url}/v2/health/ready", timeout=2):
                return process, url
        except OSError:
            if time.time() > deadline or process.poll() is not None:
                raise SystemExit("the server did not start")
            time.sleep(0.2)


def wrk(url, clients, seconds):
    script = tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False)
    script.write('wrk.method = "POST"\n'
                 'wrk.body = \'{"instances": [[5.1, 3.5, 1.4, 0.2]]}\'\n'
                 'wrk.headers["Content-Type"] = "application/json"\n')
    script.close()
    threads = min(clients, 2)
    result = subprocess.run(["wrk", "-t", str(threads), "-c", str(clients), "-d", f"{int(seconds)}s",
                             "--latency", "-s", script.name, url], capture_output=True, text=True,
                            timeout=seconds + 60)
    os.unlink(script.name)
    out = result.stdout
    if "Requests/sec" not in out:
        raise SystemExit(f"wrk failed on {url}:\n{out}\n{result.stderr}")

    def milliseconds(label):
        match = re.search(rf"^\s+{label}\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        value, unit = float(match.group(1)), match.group(2)
        return value * {"us": 1e-3, "ms": 1.0, "s": 1e3}[unit]

    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors:
        raise SystemExit(f"wrk saw {errors.group(1)} errors:\n{out}")
    return rate, milliseconds("50%"), milliseconds("99%")


def main(out, seconds=5.0):
    import keras

    from models import call_once, medium_mlp, small_mlp
    from kerasexport import export_model

    work = tempfile.mkdtemp(prefix="kerasexport-bench-batching-")
    rows = []
    for model_name, build in (("small_mlp", small_mlp), ("medium_mlp", medium_mlp)):
        model = build()
        call_once(model)
        for format in ("tf_saved_model", "onnx"):
            if format == "tf_saved_model" and keras.backend.backend() == "torch":
                continue
            path = os.path.join(work, f"{model_name}.onnx" if format == "onnx" else model_name)
            export_model(model, path, format=format, verbose=False)
            servers = {b: start(path, "m", b) for b in (False, True)}
            try:
                for clients in CLIENTS:
                    results = {}
                    for batching in (False, True, False, True):  # taking turns
                        rate, p50, p99 = wrk(f"{servers[batching][1]}/v1/models/m:predict",
                                             clients, seconds)
                        results.setdefault(batching, []).append((rate, p50, p99))
                    best = {b: max(r, key=lambda t: t[0]) for b, r in results.items()}
                    row = {"model": model_name, "format": format, "clients": clients,
                           "unbatched_req_s": best[False][0], "batched_req_s": best[True][0],
                           "throughput_ratio": best[True][0] / best[False][0],
                           "unbatched_p50_ms": best[False][1], "batched_p50_ms": best[True][1],
                           "unbatched_p99_ms": best[False][2], "batched_p99_ms": best[True][2],
                           "p99_ratio": best[True][2] / best[False][2]}
                    rows.append(row)
                    print(json.dumps(row), flush=True)
            finally:
                for process, _ in servers.values():
                    process.terminate()
                    process.wait(10)
    with open(out, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


if __name__ == "__main__":
    main(sys.argv[1], float(sys.argv[2]) if len(sys.argv) > 2 else 5.0)
