#!/usr/bin/env python3
"""summary.py - the figures of a soak run (tests/soak/soak.sh) from its
samples.csv: sagas/s and rows per third of the load phase, and whether rows
and sizes levelled off.

    tests/soak/summary.py DIR [SAGAS RATE]    # writes DIR/summary.json

Medians per third, not means: a stall of a few seconds (a busy machine)
moves a mean and a peak, not a median.  levelled_off is the last third's
median over the middle third's: about 1 is flat.  The inbox grows by
design during a soak: its ids are kept inbox_ttl, an hour at least.
"""
import csv
import json
import statistics
import sys


def main():
    out = sys.argv[1]
    sagas = int(sys.argv[2]) if len(sys.argv) > 2 else None
    rate = float(sys.argv[3]) if len(sys.argv) > 3 else None
    rows = list(csv.DictReader(open(out + "/samples.csv")))
    load = [r for r in rows if r["phase"] == "load"][1:]  # the first spans the start
    n = len(load)
    thirds = [load[i * n // 3:(i + 1) * n // 3] for i in range(3)]

    def median(rs, k):
        return round(statistics.median(float(r[k]) for r in rs), 1) if rs else 0

    def peak(rs, k):
        return max(int(r[k]) for r in rs) if rs else 0

    cols = ["sagas", "unfinished", "steps", "history", "outbox", "inbox",
            "sagas_bytes", "steps_bytes", "history_bytes", "outbox_bytes",
            "inbox_bytes", "db_bytes"]
    last = rows[-1]
    summary = {
        "sagas_offered": sagas,
        "rate_offered": rate,
        "seconds": float(last["t_s"]),
        "load_seconds": float(load[-1]["t_s"]) if load else 0,
        "samples": len(rows),
        "completed": int(last["completed"]),
        "deleted": int(last["deleted"]),
        "sagas_per_s_median_by_third": [median(t, "sagas_per_s") for t in thirds],
        "sagas_per_s_mean_by_third": [
            round((float(t[-1]["completed"]) - float(t[0]["completed"])) /
                  max(float(t[-1]["t_s"]) - float(t[0]["t_s"]), 1), 1)
            for t in thirds if t],
        "median_by_third": {k: [median(t, k) for t in thirds] for k in cols},
        "peak_by_third": {k: [peak(t, k) for t in thirds] for k in cols},
        "levelled_off": {
            k: round(median(thirds[2], k) / max(median(thirds[1], k), 1), 2)
            for k in cols},
        "at_end": {k: int(last[k]) for k in cols},
        "note": "levelled_off: the last third's median over the middle "
                "third's (about 1: flat); the inbox grows by design "
                "(inbox_ttl, 1h at least)",
    }
    json.dump(summary, open(out + "/summary.json", "w"), indent=2)
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
