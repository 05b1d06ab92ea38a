"""Dataset health: the pure checks (annotations, hashes) and the report.

The file work (reading, decoding, hashing images) is :mod:`detview.io.health`; this
module takes its results as arrays. Every :class:`Finding` names its image (index and
file name) and, for a box, the box id and class, so a list of findings is a click
away from the images.

Kinds, in report order (``KINDS`` gives severity and a one-line help):

- ``missing``, ``unreadable``, ``truncated``: the image file is absent, cannot be
  decoded, or ends early (``truncated`` also when a PNG lacks its IEND chunk);
- ``size_mismatch``: the width/height in the annotations differ from the file's;
- ``exif_rotated``: they differ as a 90° EXIF rotation would (width and height swapped
  with an EXIF orientation of 5-8): the labels were drawn on the rotated view, while
  detview, like COCO/YOLO tools, uses the stored pixels;
- ``exif_orientation`` (info): the sizes agree but the file carries an EXIF rotation,
  so viewers that apply it show the image turned against its boxes;
- ``duplicate``: the same bytes as another image; ``near_duplicate``: perceptual
  hashes within a few bits of another image's (a 64-bit pHash over a 32x32 grayscale
  thumbnail, confirmed by a 64-bit dHash of a 9x8 one);
- ``unlabeled``: no ground-truth box;
- ``box_outside``: a box extends beyond the image; ``degenerate_box``: zero or negative
  width or height, or a coordinate that is not finite; ``tiny_box``: a side under
  ``tiny_px`` pixels;
- ``rare_class``: a class with fewer than ``min_boxes`` boxes (one finding per box, or
  one for the class when it has none).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .tables import Boxes, Images

__all__ = [
    "KINDS",
    "Finding",
    "HealthOptions",
    "HealthReport",
    "KindInfo",
    "annotation_findings",
    "dhash_bits",
    "duplicate_findings",
    "file_findings",
    "hamming",
    "near_duplicate_findings",
    "near_duplicate_pairs",
    "phash_bits",
]


@dataclass(frozen=True)
class KindInfo:
    severity: str  # "error" | "warning" | "info"
    title: str
    help: str


KINDS: dict[str, KindInfo] = {
    "missing": KindInfo("error", "Missing image files",
                        "The annotations name an image file that is not in the image folder."),
    "unreadable": KindInfo("error", "Unreadable images",
                           "The file cannot be decoded: corrupt, empty, or not an image."),
    "truncated": KindInfo("error", "Truncated images",
                          "The file ends before the image data does (an interrupted copy "
                          "or download); training loaders fail or read grey pixels."),
    "size_mismatch": KindInfo("error", "Size disagrees with the file",
                              "The width/height in the annotations differ from the image "
                              "file's; boxes scaled from them are misplaced."),
    "exif_rotated": KindInfo("error", "EXIF-rotated labels",
                             "The annotation size is the file's size turned 90°, and the "
                             "file has an EXIF rotation: the labels were drawn on the "
                             "rotated view; detview and COCO/YOLO tools use stored pixels."),
    "exif_orientation": KindInfo("info", "EXIF orientation",
                                 "The file carries an EXIF rotation; viewers that apply it "
                                 "show the image turned against its boxes."),
    "duplicate": KindInfo("warning", "Exact duplicates",
                          "The same bytes as another image (a leak between splits, or "
                          "doubled labels)."),
    "near_duplicate": KindInfo("warning", "Near duplicates",
                               "Looks like another image (resized, re-encoded, lightly "
                               "edited): perceptual hashes a few bits apart."),
    "unlabeled": KindInfo("warning", "Images without labels",
                          "No ground-truth box: a background image, or forgotten labels."),
    "box_outside": KindInfo("warning", "Boxes outside the image",
                            "A box extends beyond the image border."),
    "degenerate_box": KindInfo("error", "Degenerate boxes",
                               "Zero or negative width or height, or a coordinate that is "
                               "not a finite number."),
    "tiny_box": KindInfo("warning", "Tiny boxes",
                         "A side shorter than the tiny-box limit: often a stray click."),
    "rare_class": KindInfo("warning", "Rare classes",
                           "A class with very few boxes: too few to learn or to evaluate."),
}

_FILE_KINDS = ("missing", "unreadable", "truncated", "size_mismatch", "exif_rotated",
               "exif_orientation", "duplicate", "near_duplicate")
_ORIENT_TEXT = {2: "mirrored", 3: "rotate 180°", 4: "flipped", 5: "transposed",
                6: "rotate 90° clockwise", 7: "transverse", 8: "rotate 90° counter-clockwise"}


@dataclass(frozen=True)
class Finding:
    """One problem. ``image`` -1 and ``file_name`` "" when it is about no one image (a
    class without boxes); ``box_id``/``cls`` -1 when not about a box/class;
    ``related``: other image indices involved (the other duplicates)."""

    kind: str
    image: int = -1
    file_name: str = ""
    box_id: int = -1
    cls: int = -1
    message: str = ""
    related: tuple[int, ...] = ()

    @property
    def severity(self) -> str:
        return KINDS[self.kind].severity

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "severity": self.severity, "image": self.image,
                "file_name": self.file_name, "box_id": self.box_id, "class": self.cls,
                "message": self.message, "related": list(self.related)}

    def __str__(self) -> str:
        where = f"#{self.image} {self.file_name}" if self.image >= 0 else ""
        if self.box_id >= 0:
            where += f" box {self.box_id}"
        return f"{where}: {self.message}" if where else self.message


@dataclass(frozen=True)
class HealthOptions:
    """Thresholds of the checks.

    ``tiny_px``: a box side under this is tiny. ``min_boxes``: a class with fewer
    boxes is rare. ``near_distance``: pHash bits that may differ for a near duplicate
    (of 64). ``outside_tolerance``: pixels a box may stick out before it counts.
    ``kinds``: the kinds to run (default all).
    """

    tiny_px: float = 2.0
    min_boxes: int = 5
    near_distance: int = 8
    outside_tolerance: float = 0.0
    kinds: frozenset[str] = field(default_factory=lambda: frozenset(KINDS))


@dataclass
class HealthReport:
    """All findings of one check, in :data:`KINDS` order, then image, then box."""

    findings: list[Finding]
    n_images: int
    n_boxes: int
    checked: tuple[str, ...]  # the kinds that ran
    class_names: tuple[str, ...] = ()

    def counts(self) -> dict[str, int]:
        """Findings per kind, for every kind that ran (zeros included)."""
        out = {k: 0 for k in self.checked}
        for f in self.findings:
            out[f.kind] = out.get(f.kind, 0) + 1
        return out

    def of_kind(self, kind: str) -> list[Finding]:
        return [f for f in self.findings if f.kind == kind]

    def for_image(self, image: int) -> list[Finding]:
        return [f for f in self.findings if f.image == image]

    def image_mask(self, kinds: Sequence[str] | None = None) -> np.ndarray:
        """bool[n_images]: images with a finding of ``kinds`` (default any)."""
        m = np.zeros(self.n_images, dtype=bool)
        want = None if kinds is None else set(kinds)
        idx = [f.image for f in self.findings if f.image >= 0 and (want is None or
                                                                     f.kind in want)]
        if idx:
            m[np.asarray(idx, dtype=np.int64)] = True
        return m

    def frame(self) -> pd.DataFrame:
        """One row per finding: kind, severity, image, file_name, box_id, class,
        class_name, message, related."""
        names = self.class_names
        return pd.DataFrame({
            "kind": [f.kind for f in self.findings],
            "severity": [f.severity for f in self.findings],
            "image": np.array([f.image for f in self.findings], dtype=np.int64),
            "file_name": [f.file_name for f in self.findings],
            "box_id": np.array([f.box_id for f in self.findings], dtype=np.int64),
            "class": np.array([f.cls for f in self.findings], dtype=np.int64),
            "class_name": [names[f.cls] if 0 <= f.cls < len(names) else ""
                           for f in self.findings],
            "message": [f.message for f in self.findings],
            "related": [list(f.related) for f in self.findings],
        })

    def to_json(self) -> dict[str, Any]:
        return {"images": self.n_images, "boxes": self.n_boxes, "checked": list(self.checked),
                "counts": self.counts(), "findings": [f.to_json() for f in self.findings]}


def _order(findings: list[Finding]) -> list[Finding]:
    rank = {k: i for i, k in enumerate(KINDS)}
    return sorted(findings, key=lambda f: (rank[f.kind], f.image, f.box_id, f.cls))


# =========================================================================== annotations
def annotation_findings(images: Images, gt: Boxes, class_names: Sequence[str],
                        options: HealthOptions = HealthOptions(),
                        widths: np.ndarray | None = None,
                        heights: np.ndarray | None = None,
                        not_unlabeled: np.ndarray | None = None) -> list[Finding]:
    """Box and label checks: ``unlabeled``, ``box_outside``, ``degenerate_box``,
    ``tiny_box``, ``rare_class``. Deleted images and boxes are left out.

    ``widths``/``heights`` (per image) are the sizes boxes are checked against; default
    the annotations' (0 = unknown: not checked). ``not_unlabeled``: images not to call
    unlabeled (an unreadable file, whose boxes the loader could not place).
    """
    kinds = options.kinds
    names = list(class_names)
    files = images.file_names
    w = images.widths if widths is None else np.asarray(widths, dtype=np.float64)
    h = images.heights if heights is None else np.asarray(heights, dtype=np.float64)
    live = gt.alive & ~images.deleted[gt.image]
    rows = np.flatnonzero(live)
    out: list[Finding] = []

    def cname(k: int) -> str:
        return names[k] if 0 <= k < len(names) else str(k)

    def box(kind: str, r: int, msg: str) -> Finding:
        i = int(gt.image[r])
        return Finding(kind, i, files[i], int(gt.box_id[r]), int(gt.cls[r]), msg)

    if "unlabeled" in kinds:
        n_live = np.bincount(gt.image[rows], minlength=len(images))
        empty = (n_live == 0) & ~images.deleted
        if not_unlabeled is not None:
            empty &= ~np.asarray(not_unlabeled, dtype=bool)
        for i in np.flatnonzero(empty).tolist():
            out.append(Finding("unlabeled", i, files[i], message="no ground-truth boxes"))
    xy = gt.xyxy[rows]
    with np.errstate(invalid="ignore"):
        bw = xy[:, 2] - xy[:, 0]
        bh = xy[:, 3] - xy[:, 1]
    finite = np.isfinite(xy).all(axis=1)
    degenerate = ~finite | ~(bw > 0) | ~(bh > 0)
    if "degenerate_box" in kinds:
        for k in np.flatnonzero(degenerate).tolist():
            r = int(rows[k])
            if not finite[k]:
                msg = f"{cname(int(gt.cls[r]))} box has a coordinate that is not finite"
            else:
                msg = (f"{cname(int(gt.cls[r]))} box is {bw[k]:g} x {bh[k]:g} px "
                       "(zero or negative size)")
            out.append(box("degenerate_box", r, msg))
    if "tiny_box" in kinds and options.tiny_px > 0:
        tiny = ~degenerate & ((bw < options.tiny_px) | (bh < options.tiny_px))
        for k in np.flatnonzero(tiny).tolist():
            r = int(rows[k])
            out.append(box("tiny_box", r, f"{cname(int(gt.cls[r]))} box is only "
                           f"{bw[k]:.3g} x {bh[k]:.3g} px (limit {options.tiny_px:g} px)"))
    if "box_outside" in kinds:
        iw = w[gt.image[rows]].astype(np.float64)
        ih = h[gt.image[rows]].astype(np.float64)
        known = (iw > 0) & (ih > 0) & finite
        # the rounding of 6-decimal normalised (YOLO) coordinates, plus the user's slack
        tw = 2e-6 * iw + 1e-6 + options.outside_tolerance
        th = 2e-6 * ih + 1e-6 + options.outside_tolerance
        with np.errstate(invalid="ignore"):
            out_mask = known & ((xy[:, 0] < -tw) | (xy[:, 1] < -th) | (xy[:, 2] > iw + tw)
                                | (xy[:, 3] > ih + th))
            inside_none = known & ((xy[:, 2] <= 0) | (xy[:, 3] <= 0) | (xy[:, 0] >= iw)
                                   | (xy[:, 1] >= ih))
        for k in np.flatnonzero(out_mask).tolist():
            r = int(rows[k])
            x1, y1, x2, y2 = (float(v) for v in xy[k])
            side = [s for s, bad in (("left", x1 < -tw[k]), ("top", y1 < -th[k]),
                                     ("right", x2 > iw[k] + tw[k]),
                                     ("bottom", y2 > ih[k] + th[k])) if bad]
            what = "entirely outside" if inside_none[k] else "beyond the " + "/".join(side) + \
                " edge"
            out.append(box("box_outside", r, f"{cname(int(gt.cls[r]))} box "
                           f"[{x1:.1f}, {y1:.1f}, {x2:.1f}, {y2:.1f}] is {what} of the "
                           f"{int(iw[k])} x {int(ih[k])} image"))
    if "rare_class" in kinds and options.min_boxes > 0 and names:
        counted = rows[~gt.iscrowd[rows]]
        per_class = np.bincount(gt.cls[counted], minlength=len(names))
        for k in np.flatnonzero(per_class < options.min_boxes).tolist():
            n = int(per_class[k])
            if n == 0:
                out.append(Finding("rare_class", cls=k, message=f"class '{cname(k)}' has no "
                                   "boxes"))
                continue
            msg = (f"class '{cname(k)}' has only {n} box{'es' if n != 1 else ''} "
                   f"(fewer than {options.min_boxes})")
            for r in counted[gt.cls[counted] == k].tolist():
                out.append(box("rare_class", int(r), msg))
    return out


# =========================================================================== files
def file_findings(images: Images, status: Sequence[str], messages: Sequence[str],
                  file_w: np.ndarray, file_h: np.ndarray, orientation: np.ndarray,
                  options: HealthOptions = HealthOptions()) -> list[Finding]:
    """``missing``/``unreadable``/``truncated`` from each image's decode ``status``
    (``"ok"`` or a kind) and ``messages``; ``size_mismatch``, ``exif_rotated``,
    ``exif_orientation`` from the stored file sizes and EXIF orientation (1 = none)."""
    kinds = options.kinds
    out: list[Finding] = []
    files = images.file_names
    for i, s in enumerate(status):
        if images.deleted[i]:
            continue
        if s != "ok":
            if s in kinds:
                out.append(Finding(s, i, files[i], message=messages[i]))
            continue
        aw, ah = int(images.widths[i]), int(images.heights[i])
        fw, fh, o = int(file_w[i]), int(file_h[i]), int(orientation[i])
        turned = o in (5, 6, 7, 8)
        if aw <= 0 or ah <= 0 or (aw, ah) == (fw, fh):
            if turned and "exif_orientation" in kinds:
                out.append(Finding("exif_orientation", i, files[i],
                                   message=f"EXIF orientation {o} ({_ORIENT_TEXT[o]}): the "
                                   f"boxes follow the stored {fw} x {fh} pixels"))
            continue
        if turned and (aw, ah) == (fh, fw):
            if "exif_rotated" in kinds:
                out.append(Finding("exif_rotated", i, files[i],
                                   message=f"annotations say {aw} x {ah}, the stored pixels "
                                   f"are {fw} x {fh} with EXIF orientation {o} "
                                   f"({_ORIENT_TEXT[o]}): labels drawn on the rotated view"))
        elif "size_mismatch" in kinds:
            out.append(Finding("size_mismatch", i, files[i],
                               message=f"annotations say {aw} x {ah}, the file is {fw} x {fh}"))
    return out


def duplicate_findings(images: Images, digests: Sequence[str]) -> list[Finding]:
    """``duplicate``: images whose content digest equals an earlier image's ("" = none)."""
    groups: dict[str, list[int]] = {}
    for i, d in enumerate(digests):
        if d and not images.deleted[i]:
            groups.setdefault(d, []).append(i)
    out: list[Finding] = []
    files = images.file_names
    for members in groups.values():
        if len(members) < 2:
            continue
        first = members[0]
        for i in members[1:]:
            out.append(Finding("duplicate", i, files[i],
                               message=f"same bytes as #{first} {files[first]}",
                               related=tuple(m for m in members if m != i)))
    return out


# =========================================================================== hashes
def _dct_matrix(n: int) -> np.ndarray:
    k = np.arange(n)[:, None]
    x = np.arange(n)[None, :]
    m = np.cos(np.pi * (2 * x + 1) * k / (2 * n)) * np.sqrt(2.0 / n)
    m[0] /= np.sqrt(2.0)
    return m


_DCT32 = _dct_matrix(32)


def _pack(bits: np.ndarray) -> int:
    return int.from_bytes(np.packbits(bits.astype(np.uint8).ravel()).tobytes(), "big")


def phash_bits(gray32: np.ndarray) -> int:
    """64-bit perceptual hash of a 32x32 grayscale thumbnail: the 8x8 lowest
    frequencies of its 2-D DCT-II, each bit "above the median of the 64"."""
    g = np.asarray(gray32, dtype=np.float64)
    if g.shape != (32, 32):
        raise ValueError(f"expected a 32x32 thumbnail, got {g.shape}")
    low = (_DCT32 @ g @ _DCT32.T)[:8, :8]
    return _pack(low > np.median(low))


def dhash_bits(gray9x8: np.ndarray) -> int:
    """64-bit difference hash of a 9-wide, 8-high grayscale thumbnail: each bit "brighter
    than its right neighbour"."""
    g = np.asarray(gray9x8, dtype=np.float64)
    if g.shape != (8, 9):
        raise ValueError(f"expected an 8x9 (rows x columns) thumbnail, got {g.shape}")
    return _pack(g[:, :-1] > g[:, 1:])


_POP8 = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)


def hamming(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Bit distance between uint64 hashes (broadcasting)."""
    x = np.bitwise_xor(np.asarray(a, dtype=np.uint64), np.asarray(b, dtype=np.uint64))
    if hasattr(np, "bitwise_count"):
        return np.bitwise_count(x).astype(np.int64)
    x = np.ascontiguousarray(x)
    return _POP8[x[..., None].view(np.uint8)].sum(axis=-1).astype(np.int64)


def near_duplicate_pairs(hashes: np.ndarray, valid: np.ndarray, max_distance: int,
                         cells: int = 4_000_000) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairs ``(i, j, distance)`` with ``i < j`` whose hashes differ in at most
    ``max_distance`` bits: all pairs, in blocks of about ``cells`` comparisons (10,000
    images: 50 million pairs, a fraction of a second, ~40 MB at a time)."""
    h = np.asarray(hashes, dtype=np.uint64)
    idx = np.flatnonzero(np.asarray(valid, dtype=bool))
    hv = h[idx]
    n = hv.shape[0]
    block = max(1, cells // max(n, 1))
    out_i: list[np.ndarray] = []
    out_j: list[np.ndarray] = []
    out_d: list[np.ndarray] = []
    for s in range(0, n, block):
        a = hv[s:s + block]
        d = hamming(a[:, None], hv[None, s:])  # rows s.., columns s..
        ii, jj = np.nonzero(d <= max_distance)
        keep = jj > ii  # columns are offset by s as rows are: j > i in the full order
        ii, jj = ii[keep], jj[keep]
        out_i.append(idx[s + ii])
        out_j.append(idx[s + jj])
        out_d.append(d[ii, jj])
    if not out_i:
        z = np.zeros(0, dtype=np.int64)
        return z, z, z
    return (np.concatenate(out_i).astype(np.int64), np.concatenate(out_j).astype(np.int64),
            np.concatenate(out_d).astype(np.int64))


def near_duplicate_findings(images: Images, hashes: np.ndarray, valid: np.ndarray,
                            digests: Sequence[str],
                            options: HealthOptions = HealthOptions(),
                            second: np.ndarray | None = None) -> list[Finding]:
    """``near_duplicate``: groups of images whose pHashes (``hashes``) are within
    ``options.near_distance`` bits, and their dHashes (``second``, when given) too:
    two unrelated hashes rarely agree both by chance. Linked pairs form a group; exact
    duplicates are left to :func:`duplicate_findings`. Every member but the first gets
    a finding."""
    ok = np.asarray(valid, dtype=bool) & ~images.deleted
    i, j, d = near_duplicate_pairs(hashes, ok, options.near_distance)
    keep = np.array([not (digests[a] == digests[b] and digests[a] != "") for a, b in
                     zip(i.tolist(), j.tolist(), strict=True)], dtype=bool)
    if second is not None and i.size:
        sec = np.asarray(second, dtype=np.uint64)
        keep &= hamming(sec[i], sec[j]) <= options.near_distance
    i, j, d = i[keep], j[keep], d[keep]
    parent: dict[int, int] = {}

    def find(x: int) -> int:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    best: dict[int, tuple[int, int]] = {}  # image -> (distance, partner)
    for a, b, dist in zip(i.tolist(), j.tolist(), d.tolist(), strict=True):
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
        for x, y in ((a, b), (b, a)):
            if x not in best or (dist, y) < best[x]:
                best[x] = (dist, y)
    groups: dict[int, list[int]] = {}
    for x in parent:
        groups.setdefault(find(x), []).append(x)
    files = images.file_names
    out: list[Finding] = []
    for members in groups.values():
        members.sort()
        for x in members[1:]:
            dist, y = best[x]
            out.append(Finding("near_duplicate", x, files[x],
                               message=f"looks like #{y} {files[y]} ({dist} of 64 hash bits "
                               "differ)", related=tuple(m for m in members if m != x)))
    return out


def build_report(images: Images, gt: Boxes, class_names: Sequence[str],
                 findings: list[Finding], checked: Sequence[str]) -> HealthReport:
    live = gt.alive & ~images.deleted[gt.image]
    return HealthReport(_order(findings), int((~images.deleted).sum()), int(live.sum()),
                        tuple(k for k in KINDS if k in set(checked)), tuple(class_names))
