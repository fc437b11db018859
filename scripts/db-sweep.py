#!/usr/bin/env python3
"""scripts/db-sweep.py DIR: the db scenario's throughput against K, as Markdown on stdout, from
the runs `scripts/compare.sh` made in DIR (DIR/LABEL/kK/NAME.json, one `--json` summary per
model and K, and DIR/LABEL/kK/pgbench.txt). Also writes DIR/throughput.json.

It checks what the harness checks for the timed runs: at each K, every model of one language
printed the same digest, and no run failed; it exits 1 (saying which) otherwise.
"""

import json
import pathlib
import re
import sys

ORDER = [
    "serial", "threading", "multiprocessing", "asyncio", "asyncio-pipelined",
    "python-serial", "python-threading", "python-multiprocessing", "python-asyncio",
    "python-asyncio-pipelined", "pgbench",
]
TITLES = {
    "delayed": "PostgreSQL 1 ms away each way",
    "loopback": "PostgreSQL on loopback",
    "sqlite": "SQLite (WAL, one writer at a time)",
}


def main(root: pathlib.Path) -> int:
    problems, data = [], {}
    for label_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        label = label_dir.name
        table = data.setdefault(label, {"tps": {}, "rtt_ms": {}, "n": {}})
        for kdir in sorted(label_dir.glob("k*"), key=lambda p: int(p.name[1:])):
            k = int(kdir.name[1:])
            digests = {}
            for f in sorted(kdir.glob("*.json")):
                s = json.loads(f.read_text())
                name = f.stem
                if s.get("failed"):
                    problems.append(f"{label} K={k} {name}: {s['failed']} failed")
                lang = "python" if name.startswith("python-") else "rust"
                digests.setdefault(lang, set()).add(s["digest"])
                table["tps"].setdefault(name, {})[k] = s.get("tps")
                table["rtt_ms"].setdefault(k, s.get("rtt_ms"))
                table["n"][k] = s["items"]
            for lang, ds in digests.items():
                if len(ds) != 1:
                    problems.append(f"{label} K={k}: the {lang} models' digests differ: {sorted(ds)}")
            bench = kdir / "pgbench.txt"
            if bench.exists():
                m = re.search(r"tps = ([0-9.]+) \(without initial connection time\)", bench.read_text())
                if m:
                    table["tps"].setdefault("pgbench", {})[k] = round(float(m.group(1)))
                else:
                    problems.append(f"{label} K={k}: no tps in pgbench.txt")
    (root / "throughput.json").write_text(json.dumps(data, indent=1, sort_keys=True))
    latency = (root / "latency.txt").read_text().strip() if (root / "latency.txt").exists() else ""
    out = ["Transactions per second against K (the transactions in flight), one run each:", ""]
    for label in ("delayed", "loopback", "sqlite"):
        if label not in data:
            continue
        t = data[label]
        ks = sorted(t["n"])
        out.append(f"**{TITLES.get(label, label)}**" + (f" ({latency})" if label == "delayed" and latency else ""))
        out.append("")
        out.append("| model | " + " | ".join(f"K = {k}" for k in ks) + " |")
        out.append("| --- |" + " ---: |" * len(ks))
        for name in ORDER + sorted(set(t["tps"]) - set(ORDER)):
            if name not in t["tps"]:
                continue
            row = [str(t["tps"][name].get(k, "")) if t["tps"][name].get(k) is not None else "" for k in ks]
            out.append(f"| {name} | " + " | ".join(row) + " |")
        out.append("| transactions | " + " | ".join(str(t["n"][k]) for k in ks) + " |")
        if label != "sqlite":
            out.append("| round trip, ms | " + " | ".join(f"{t['rtt_ms'][k]:.3f}" for k in ks) + " |")
        out.append("")
    print("\n".join(out))
    for p in problems:
        print(f"db-sweep.py: {p}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(pathlib.Path(sys.argv[1])))
