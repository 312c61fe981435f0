#!/usr/bin/env python3
"""Cut a real evaluation directory (`spright-bench reproduce --out DIR`) into the small CSV fixture
harness/tests/fixtures/evaluation/: the index and settings, the sweep's comparison, and from each
run (calibration left out) its summary and the first rows of the files the figures read. The
16-core reference's Online Boutique rows go beside it as `reference/`, so claims this machine
cannot show cite a reference as they would in a real run.

    scripts/cut-eval-fixture.py /tmp/eval harness/tests/fixtures/evaluation
"""
import csv, json, shutil, sys
from pathlib import Path

src, dst = Path(sys.argv[1]), Path(sys.argv[2])
ref = Path(__file__).resolve().parent.parent / "results/reference/reproduce-16core"
if dst.exists():
    shutil.rmtree(dst)
dst.mkdir(parents=True)

def head(path, out, n, keep=lambda r: True):
    with open(path, newline="") as f, open(out, "w", newline="") as g:
        r = csv.reader(f)
        w = csv.writer(g, lineterminator="\n")
        w.writerow(next(r))
        rows = [row for row in r if keep(row)]
        w.writerows(rows[:n])

meta = json.loads((src / "paper.json").read_text())
meta["reference"] = "reference"
(dst / "paper.json").write_text(json.dumps(meta, indent=2) + "\n")
with open(src / "runs.csv", newline="") as f:
    runs = [r for r in csv.DictReader(f) if r["series"] != "calibration"]
with open(dst / "runs.csv", "w", newline="") as g:
    w = csv.DictWriter(g, fieldnames=list(runs[0].keys()), lineterminator="\n")
    w.writeheader()
    w.writerows(runs)
(dst / "sweep").mkdir()
for f in ["comparison.csv", "reproduce.json"]:
    shutil.copy(src / "sweep" / f, dst / "sweep" / f)
tail = {"0", "10", "20", "30", "40", "50", "60", "70", "80", "90", "99", "99.9", "100"}
for r in runs:
    s, d = src / r["dir"], dst / r["dir"]
    d.mkdir(parents=True)
    shutil.copy(s / "summary.csv", d / "summary.csv")
    head(s / "timeseries.csv", d / "timeseries.csv", 10)
    head(s / "latency_cdf.csv", d / "latency_cdf.csv", 200, lambda row: row[1] in tail)
    head(s / "cpu.csv", d / "cpu.csv", 80)
    if (s / "requests.csv").exists():
        head(s / "requests.csv", d / "requests.csv", 80)
(dst / "reference").mkdir()
head(ref / "comparison.csv", dst / "reference/comparison.csv", 100, lambda row: row[1] == "online-boutique")
shutil.copy(ref / "reproduce.json", dst / "reference/reproduce.json")
