"""How far two results are apart, for the report's "Rust and Python differ by design" lines.

    python -m chapter compare matrix C1.mat C2.mat [--json]
    python -m chapter compare images DIR1 DIR2 [--json]

- ``matrix``: two DTMATRIX files of the same shape: how many elements differ, the largest
  absolute difference and the largest relative one (``|a - b| / max(|a|, |b|)``).
- ``images``: every ``.png`` of DIR1 against the file of the same name in DIR2, both decoded to
  8-bit gray: the mean and the largest absolute pixel difference of each image, and the worst
  image. A file missing from DIR2, or of another size, is listed and makes the exit status 1.

Human lines on stdout, or with ``--json`` one JSON object (not a run summary: nothing is timed).
"""

import json
import os

from chapter.contract import ChapterError


def _emit(args, lines, obj) -> None:
    if getattr(args, "json", False):
        print(json.dumps(obj, separators=(",", ":")))
    else:
        for line in lines:
            print(line)


def matrices(path1, path2) -> dict:
    import numpy as np

    from chapter import matrix

    r1, c1, d1 = matrix.read_all(path1)
    r2, c2, d2 = matrix.read_all(path2)
    if (r1, c1) != (r2, c2):
        raise ChapterError(f"{path1} is {r1} x {c1} and {path2} is {r2} x {c2}: they cannot be compared")
    a = np.frombuffer(d1, dtype="<f8")
    b = np.frombuffer(d2, dtype="<f8")
    diff = np.abs(a - b)
    scale = np.maximum(np.abs(a), np.abs(b))
    rel = np.divide(diff, scale, out=np.zeros_like(diff), where=scale > 0)
    return {
        "compare": "matrix",
        "first": path1,
        "second": path2,
        "shape": [r1, c1],
        "elements": int(a.size),
        "differing": int(np.count_nonzero(a != b)),
        "identical": d1 == d2,
        "max_abs": float(diff.max()) if diff.size else 0.0,
        "max_rel": float(rel.max()) if rel.size else 0.0,
    }


def _gray(path):
    import numpy as np
    from PIL import Image

    try:
        with Image.open(path) as img:
            return np.asarray(img.convert("L"), dtype=np.int16)
    except Exception as e:
        raise ChapterError(f"{path}: cannot be decoded ({e})") from None


def images(dir1, dir2) -> dict:
    import numpy as np

    for d in (dir1, dir2):
        if not os.path.isdir(d):
            raise ChapterError(f"{d} is not a directory")
    names = sorted(n for n in os.listdir(dir1) if n.lower().endswith(".png"))
    if not names:
        raise ChapterError(f"{dir1}: no .png files to compare")
    per, missing, mismatched = [], [], []
    for name in names:
        other = os.path.join(dir2, name)
        if not os.path.isfile(other):
            missing.append(name)
            continue
        a, b = _gray(os.path.join(dir1, name)), _gray(other)
        if a.shape != b.shape:
            mismatched.append(f"{name}: {a.shape[1]}x{a.shape[0]} against {b.shape[1]}x{b.shape[0]}")
            continue
        d = np.abs(a - b)
        per.append(
            {
                "name": name,
                "mean_abs": round(float(d.mean()), 4),
                "max_abs": int(d.max()),
                "differing_share": round(float(np.count_nonzero(d)) / d.size, 4),
            }
        )
    worst = max(per, key=lambda r: (r["max_abs"], r["mean_abs"]), default=None)
    return {
        "compare": "images",
        "first": dir1,
        "second": dir2,
        "images": per,
        "worst": worst,
        "mean_abs": round(sum(r["mean_abs"] for r in per) / len(per), 4) if per else None,
        "missing": missing,
        "size_mismatch": mismatched,
    }


def run(args) -> int:
    if args.what == "matrix":
        r = matrices(args.first, args.second)
        lines = [
            f"{r['first']} vs {r['second']} ({r['shape'][0]} x {r['shape'][1]}): "
            + ("identical" if r["identical"] else f"{r['differing']} of {r['elements']} elements differ"),
            f"max absolute difference {r['max_abs']:.3e}, max relative difference {r['max_rel']:.3e}",
        ]
        _emit(args, lines, r)
        return 0
    r = images(args.first, args.second)
    lines = [
        f"{i['name']}: mean |diff| {i['mean_abs']:.4f}, max |diff| {i['max_abs']}, "
        f"{100 * i['differing_share']:.1f}% of pixels differ"
        for i in r["images"]
    ]
    if r["worst"] is not None:
        w = r["worst"]
        lines.append(
            f"{len(r['images'])} images compared; mean |diff| over all {r['mean_abs']:.4f}; "
            f"worst {w['name']} (max {w['max_abs']}, mean {w['mean_abs']:.4f})"
        )
    lines += [f"missing from {r['second']}: {n}" for n in r["missing"]]
    lines += [f"different size: {m}" for m in r["size_mismatch"]]
    _emit(args, lines, r)
    return 1 if r["missing"] or r["size_mismatch"] else 0
