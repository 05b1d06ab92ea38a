"""The pure health checks against plain-Python loops: hashes, bit distances, near
duplicate pairs, box checks, size/EXIF logic, duplicate groups."""

from __future__ import annotations

import math

import numpy as np
import pytest

from detview.core.health import (
    Finding,
    HealthOptions,
    annotation_findings,
    dhash_bits,
    duplicate_findings,
    file_findings,
    hamming,
    near_duplicate_findings,
    near_duplicate_pairs,
    phash_bits,
)
from detview.core.tables import Boxes, Images


def images(n: int, w: int = 100, h: int = 80) -> Images:
    return Images(np.arange(n), [f"f{i}.jpg" for i in range(n)], np.full(n, w), np.full(n, h))


def test_phash_against_the_dct_formula() -> None:
    rng = np.random.default_rng(1)
    for _ in range(5):
        g = rng.random((32, 32)) * 255
        coeff = []
        for u in range(8):
            for v in range(8):
                cu = math.sqrt(1 / 32) if u == 0 else math.sqrt(2 / 32)
                cv = math.sqrt(1 / 32) if v == 0 else math.sqrt(2 / 32)
                s = 0.0
                for x in range(32):
                    for y in range(32):
                        s += g[x, y] * math.cos(math.pi * (2 * x + 1) * u / 64) * math.cos(
                            math.pi * (2 * y + 1) * v / 64)
                coeff.append(cu * cv * s)
        med = sorted(coeff)[31] / 2 + sorted(coeff)[32] / 2
        bits = "".join("1" if c > med else "0" for c in coeff)
        assert phash_bits(g) == int(bits, 2)
        assert phash_bits(g * 2.5) == phash_bits(g)  # contrast does not matter
    with pytest.raises(ValueError):
        phash_bits(np.zeros((8, 8)))


def test_dhash_against_a_loop() -> None:
    g = np.random.default_rng(2).random((8, 9))
    bits = "".join("1" if g[r, c] > g[r, c + 1] else "0" for r in range(8) for c in range(8))
    assert dhash_bits(g) == int(bits, 2)
    with pytest.raises(ValueError):
        dhash_bits(np.zeros((9, 8)))


def test_hamming_against_bin_count() -> None:
    rng = np.random.default_rng(3)
    a = rng.integers(0, 2**63, 50, dtype=np.uint64) * np.uint64(2) + rng.integers(0, 2, 50,
                                                                               dtype=np.uint64)
    b = rng.integers(0, 2**63, 50, dtype=np.uint64)
    want = [bin(int(x) ^ int(y)).count("1") for x, y in zip(a, b, strict=True)]
    assert hamming(a, b).tolist() == want
    assert hamming(np.uint64(2**64 - 1), np.uint64(0)) == 64


@pytest.mark.parametrize("cells", [7, 100, 4_000_000])
def test_near_duplicate_pairs_against_all_pairs(cells: int) -> None:
    rng = np.random.default_rng(4)
    n = 60
    h = rng.integers(0, 2**62, n, dtype=np.uint64)
    for a, b in ((3, 40), (10, 11), (50, 2)):  # planted close pairs
        h[b] = h[a] ^ np.uint64(0b1011)
    valid = np.ones(n, bool)
    valid[11] = False
    i, j, d = near_duplicate_pairs(h, valid, 5, cells=cells)
    got = sorted(zip(i.tolist(), j.tolist(), d.tolist(), strict=True))
    want = sorted((x, y, bin(int(h[x]) ^ int(h[y])).count("1")) for x in range(n)
                  for y in range(x + 1, n) if valid[x] and valid[y]
                  and bin(int(h[x]) ^ int(h[y])).count("1") <= 5)
    assert got == want and (2, 50, 3) in got and (3, 40, 3) in got


def test_near_duplicate_groups() -> None:
    imgs = images(6)
    r0, r1, r2 = 0x0123456789ABCDEF, 0xF0E1D2C3B4A59687, 0x5A5A5A5A00FF00FF
    h = np.array([r0, r0 ^ 0b1, r1, r0 ^ 0b11, r1 ^ 0b100, r2], dtype=np.uint64)
    digests = ["a", "b", "c", "a", "d", "e"]  # 0 and 3 are exact duplicates
    out = near_duplicate_findings(imgs, h, np.ones(6, bool), digests,
                                  HealthOptions(near_distance=2))
    got = {(f.image, f.related) for f in out}
    # 0-1 (1 bit), 1-3 (1 bit) link {0, 1, 3}; 2-4 (1 bit); 0-3 is exact, not near
    assert got == {(1, (0, 3)), (3, (0, 1)), (4, (2,))}
    assert all(f.kind == "near_duplicate" for f in out)
    # a second hash must agree too: image 4's dHash is far from image 2's
    second = h.copy()
    second[4] ^= np.uint64(0xFFFF)
    out = near_duplicate_findings(imgs, h, np.ones(6, bool), digests,
                                  HealthOptions(near_distance=2), second)
    assert {(f.image, f.related) for f in out} == {(1, (0, 3)), (3, (0, 1))}
    imgs.deleted[1] = True
    out = near_duplicate_findings(imgs, h, np.ones(6, bool), digests,
                                  HealthOptions(near_distance=2))
    assert {(f.image, f.related) for f in out} == {(4, (2,))}


def test_duplicate_groups() -> None:
    imgs = images(5)
    out = duplicate_findings(imgs, ["x", "y", "x", "", "x"])
    assert [(f.image, f.related) for f in out] == [(2, (0, 4)), (4, (0, 2))]
    assert "same bytes as #0 f0.jpg" in out[0].message


@pytest.mark.parametrize("ann,file,orient,kind", [
    ((100, 80), (100, 80), 1, None),
    ((100, 80), (100, 80), 6, "exif_orientation"),
    ((80, 100), (100, 80), 6, "exif_rotated"),
    ((80, 100), (100, 80), 8, "exif_rotated"),
    ((80, 100), (100, 80), 3, "size_mismatch"),  # 180°: no swap expected
    ((80, 100), (100, 80), 1, "size_mismatch"),
    ((120, 80), (100, 80), 6, "size_mismatch"),
    ((0, 0), (100, 80), 1, None),                # size unknown in the annotations
])
def test_size_and_exif_logic(ann, file, orient, kind) -> None:
    imgs = Images(np.arange(1), ["a.jpg"], np.array([ann[0]]), np.array([ann[1]]))
    out = file_findings(imgs, ["ok"], [""], np.array([file[0]]), np.array([file[1]]),
                        np.array([orient]))
    assert [f.kind for f in out] == ([kind] if kind else [])


def test_file_status_findings() -> None:
    imgs = images(3)
    imgs.deleted[2] = True
    out = file_findings(imgs, ["truncated", "missing", "unreadable"], ["t", "m", "u"],
                        np.zeros(3), np.zeros(3), np.ones(3))
    assert [(f.kind, f.image, f.message) for f in out] == [("truncated", 0, "t"),
                                                           ("missing", 1, "m")]


def test_box_checks_against_loops() -> None:
    rng = np.random.default_rng(5)
    n, nb, k = 30, 400, 4
    imgs = images(n, 100, 80)
    imgs.widths[3] = 0  # unknown size: never "outside"
    imgs.deleted[7] = True
    x1 = rng.uniform(-20, 110, nb)
    y1 = rng.uniform(-20, 90, nb)
    w = rng.choice([0.0, -1.0, 0.5, 1.5, 3.0, 30.0], nb)
    h = rng.choice([0.0, 1.0, 2.5, 40.0], nb)
    xyxy = np.stack([x1, y1, x1 + w, y1 + h], axis=1)
    xyxy[5, 0] = np.nan
    cls = rng.integers(0, k, nb)
    cls[cls == 3] = 2  # class 3: no boxes
    gt = Boxes.build(n, rng.integers(0, n, nb), cls, xyxy, iscrowd=rng.random(nb) < 0.05)
    gt.alive[rng.random(nb) < 0.1] = False
    for i in (11, 12):  # two images without boxes
        gt.alive[gt.image == i] = False
    names = ["a", "b", "c", "d"]
    opt = HealthOptions(tiny_px=2.0, min_boxes=90)
    out = annotation_findings(imgs, gt, names, opt)
    got = {(f.kind, f.image, f.box_id, f.cls) for f in out}
    want = set()
    count = {c: 0 for c in range(k)}
    boxes_of: dict[int, list[tuple[int, int]]] = {c: [] for c in range(k)}
    labelled = set()
    for r in range(nb):
        i = int(gt.image[r])
        if not gt.alive[r] or imgs.deleted[i]:
            continue
        labelled.add(i)
        b = int(gt.box_id[r])
        c = int(gt.cls[r])
        a, bb, cc, d = (float(v) for v in gt.xyxy[r])
        bw, bh = cc - a, d - bb
        fin = all(math.isfinite(v) for v in (a, bb, cc, d))
        if not fin or not bw > 0 or not bh > 0:
            want.add(("degenerate_box", i, b, c))
        elif bw < 2 or bh < 2:
            want.add(("tiny_box", i, b, c))
        iw, ih = float(imgs.widths[i]), float(imgs.heights[i])
        if iw > 0 and ih > 0 and fin:
            tw, th = 2e-6 * iw + 1e-6, 2e-6 * ih + 1e-6
            if a < -tw or bb < -th or cc > iw + tw or d > ih + th:
                want.add(("box_outside", i, b, c))
        if not gt.iscrowd[r]:
            count[c] += 1
            boxes_of[c].append((i, b))
    for i in range(n):
        if i not in labelled and not imgs.deleted[i]:
            want.add(("unlabeled", i, -1, -1))
    for c in range(k):
        if count[c] == 0:
            want.add(("rare_class", -1, -1, c))
        elif count[c] < 90:
            want |= {("rare_class", i, b, c) for i, b in boxes_of[c]}
    assert got == want
    kinds = {g[0] for g in got}
    assert kinds == {"degenerate_box", "tiny_box", "box_outside", "unlabeled", "rare_class"}
    # every finding reads as "#image file box id: message"
    f = next(x for x in out if x.kind == "tiny_box")
    assert str(f).startswith(f"#{f.image} f{f.image}.jpg box {f.box_id}: ")


def test_finding_json_shape() -> None:
    f = Finding("tiny_box", 3, "a.jpg", 7, 1, "small", (4,))
    assert f.to_json() == {"kind": "tiny_box", "severity": "warning", "image": 3,
                           "file_name": "a.jpg", "box_id": 7, "class": 1, "message": "small",
                           "related": [4]}
