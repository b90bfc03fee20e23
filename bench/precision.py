"""What a lower precision buys and costs: throughput of an OpenVINO artifact
(the runtime that offers one) computed in bfloat16 or float16
(``load_savedmodel(precision = )``) against the same artifact in float32, in the same process, taking turns; and the accuracy
given up, as the largest difference from the model's own outputs and the
share of instances whose top class changes.

    python bench/precision.py OUT.csv RUNS

Prints what the CPU computes each precision in (OpenVINO computes "f16" in
bfloat16 where the CPU has no float16 arithmetic, and bfloat16 in float32
where it has no bfloat16 either)."""

import csv
import os
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "inst", "python"))


def cnn():
    import keras

    keras.utils.set_random_seed(1)
    image = keras.Input((64, 64, 3), name="image")
    x = image
    for filters in (32, 64, 128):
        x = keras.layers.Conv2D(filters, 3, padding="same", activation="relu")(x)
        x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(image, keras.layers.Dense(10, name="label")(x))


def mlp():
    import keras

    keras.utils.set_random_seed(2)
    return keras.Sequential([keras.Input((256,), name="features"),
                             keras.layers.Dense(1024, activation="relu"),
                             keras.layers.Dense(1024, activation="relu"),
                             keras.layers.Dense(10, name="label")])


def rows_per_second(predictor, x, runs):
    predictor.predict(x)  # warm-up
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        predictor.predict(x)
        times.append(time.perf_counter() - started)
    return len(x) / float(np.median(times))


def main(out, runs):
    import keras

    from kerasexport import export_model
    from kerasexport import load_artifact

    rows = []
    work = tempfile.mkdtemp(prefix="kerasexport-bench-precision-")
    for name, build, batch in (("cnn_64px", cnn, 64), ("mlp_2M", mlp, 1024)):
        model = build()
        shape = (batch,) + tuple(model.inputs[0].shape[1:])
        x = np.random.default_rng(0).standard_normal(shape).astype("float32")
        model(x[:1])
        want = np.asarray(keras.ops.convert_to_numpy(model(x)))
        for format, file in (("openvino", "m.xml"),):
            path = os.path.join(work, f"{name}-{file}")
            export_model(model, path, format=format, verbose=False)
            exact = load_artifact(path)
            for precision in ("bfloat16", "float16"):
                reduced = load_artifact(path, precision=precision)
                # Taking turns, so that both meet the same machine.
                speeds = {"float32": [], precision: []}
                for _ in range(3):
                    speeds["float32"].append(rows_per_second(exact, x, runs))
                    speeds[precision].append(rows_per_second(reduced, x, runs))
                got = reduced.predict(x)["label"] if "label" in reduced.output_names() else \
                    next(iter(reduced.predict(x).values()))
                scale = float(np.abs(want).max())
                rows.append({
                    "model": name, "format": format, "precision": precision,
                    "computed_in": reduced.precision,
                    "float32_rows_per_s": float(np.median(speeds["float32"])),
                    "rows_per_s": float(np.median(speeds[precision])),
                    "speedup": float(np.median(speeds[precision]) / np.median(speeds["float32"])),
                    "max_abs_diff": float(np.abs(got - want).max()),
                    "max_rel_diff": float(np.abs(got - want).max() / scale),
                    "top_class_changed": float(np.mean(got.argmax(-1) != want.argmax(-1))),
                })
    with open(out, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    for row in rows:
        print(row)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 20)
