"""A peer's COCO bbox evaluation as a user runs it: load both files, evaluate, summarize.

    python benchmarks/peer_cocoeval.py pycocotools|faster-coco-eval GT.json DETS.json

Prints one JSON object on stdout: the 12 numbers (``AP`` ... ``ARl``) and ``per_class``
(category name -> ``{"AP": ...}``, the mean of ``precision[:, :, k, 0, -1]`` over the
entries > -1, as the COCO tools and detview compute a class's AP; -1 without ground
truth). The summary block pycocotools prints goes to stderr.
"""

from __future__ import annotations

import contextlib
import json
import sys

STATS = ("AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl")


def main(tool: str, gt: str, dets: str) -> None:
    import numpy as np

    if tool == "faster-coco-eval":
        from faster_coco_eval import COCO
        from faster_coco_eval import COCOeval_faster as COCOeval
    elif tool == "pycocotools":
        from pycocotools.coco import COCO
        from pycocotools.cocoeval import COCOeval
    else:
        raise SystemExit(f"unknown tool {tool!r}")
    with contextlib.redirect_stdout(sys.stderr):
        cg = COCO(gt)
        cd = cg.loadRes(dets)
        ev = COCOeval(cg, cd, "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    prec = np.asarray(ev.eval["precision"])
    names = {c["id"]: c["name"] for c in cg.loadCats(cg.getCatIds())}
    per_class = {}
    for k, cid in enumerate(ev.params.catIds):
        s = prec[:, :, k, 0, -1]
        s = s[s > -1]
        per_class[names[cid]] = {"AP": float(np.mean(s)) if s.size else -1.0}
    out = {name: float(v) for name, v in zip(STATS, ev.stats, strict=True)}
    out["per_class"] = per_class
    json.dump(out, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main(*sys.argv[1:4])
