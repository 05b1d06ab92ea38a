"""YOLO / Ultralytics txt labels.

Coordinate convention: one box per line, ``cls cx cy w h``, normalised to 0..1 by the
image width and height (centre, width, height). In pixels ``x1 = (cx - w/2) * W``,
``x2 = (cx + w/2) * W`` (kept as floats in the engine; wherever integer pixels are
needed they are **rounded, never truncated**). New and edited boxes are written with
6 decimals; a label file whose boxes did not change is written back byte for byte,
and in an edited file every unchanged line keeps its text.

Layout: Ultralytics finds the label of ``.../images/<x>.jpg`` at
``.../labels/<x>.txt`` (the last ``/images/`` of the path becomes ``/labels/``); a
flat folder has the ``.txt`` beside the image. ``data.yaml`` gives the class names
and the splits (``train``/``val``/``test``: a folder, a list file or a list of them,
relative to ``path``, else to the yaml's folder). Every split is read, and written
back as its own folder (or list file) with ``path`` left out, so the exported
``data.yaml`` works from any working directory.

Predictions: ``cls cx cy w h conf`` (Ultralytics ``--save-conf``: confidence last);
other column orders via ``columns`` (e.g. ``"cls conf x y w h"`` with
``normalized=False`` for absolute top-left xywh, ``"cls conf x1 y1 x2 y2"``).

Class names: ``data.yaml`` ``names`` (list or {index: name}), ``classes.txt``,
``obj.names``, or given explicitly. Class source ids are the YOLO indices.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import yaml

from detview.core.dataset import Dataset
from detview.core.tables import Boxes, Classes, Images

from .._checks import check_boxes
from .._common import Problems, Progress, decode_text, float_token, int_token, read_bytes
from ..errors import Cancelled, InputError, Problem
from ..images import list_images, read_sizes
from ..model import GtResult, PredData, SourceFiles, file_digest
from ..paths import Root, regular_file, safe_name, unsafe_reason
from .base import Format, Layout, ReadRequest

if TYPE_CHECKING:
    from ..output import Output

__all__ = [
    "find_yolo_names",
    "label_path",
    "parse_data_yaml",
    "parse_names_file",
    "parse_yolo_txt",
    "read_yolo_gt",
    "read_yolo_preds",
    "yolo_lines",
]

GT_COLUMNS = "cls cx cy w h"
PRED_COLUMNS = "cls cx cy w h conf"
_KNOWN = {"cls", "conf", "cx", "cy", "w", "h", "x", "y", "x1", "y1", "x2", "y2"}
#: the largest class index accepted (a bigger one is a corrupt line)
MAX_CLASS_INDEX = 99_999
_SPLITS = ("train", "val", "test")
_NOT_LABELS = frozenset({"classes.txt", "train.txt", "val.txt", "test.txt", "valid.txt",
                         "README.txt", "readme.txt", "LICENSE.txt"})


def _spec(columns: str) -> list[str]:
    cols = columns.replace(",", " ").split()
    bad = [c for c in cols if c not in _KNOWN]
    if bad or "cls" not in cols:
        raise ValueError(f"bad YOLO column spec {columns!r}: use names from {sorted(_KNOWN)}")
    kinds = [{"cx", "cy", "w", "h"}, {"x", "y", "w", "h"}, {"x1", "y1", "x2", "y2"}]
    if not any(k <= set(cols) for k in kinds):
        raise ValueError(f"YOLO column spec {columns!r} needs cx cy w h, x y w h or x1 y1 x2 y2")
    return cols


def parse_yolo_txt(
    text: str | bytes,
    source: str,
    *,
    columns: str = GT_COLUMNS,
    problems: Problems | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Parse one label file. Returns (cls int64[n], box float64[n,4] as in the file's
    order **converted to x1 y1 x2 y2 in the file's units**, conf float64[n] (NaN when
    no conf column), line numbers int64[n]). Bad lines are reported and skipped.
    Segment lines (``cls x1 y1 x2 y2 ...`` polygons) become their bounding box.
    """
    cols = _spec(columns)
    own = problems if problems is not None else Problems()
    text = decode_text(text, source)
    ncol = len(cols)
    ic = cols.index("cls")
    icf = cols.index("conf") if "conf" in cols else -1
    cls_l: list[int] = []
    box_l: list[list[float]] = []
    conf_l: list[float] = []
    line_l: list[int] = []
    seg_warned = False
    is_gt_layout = cols == GT_COLUMNS.split()
    for ln, raw in enumerate(text.split("\n"), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        toks = line.split()
        where = f"line {ln}"
        vals = [float_token(t) for t in toks]
        if any(v is None for v in vals):
            own.add(source, where, f"not a number in {line[:60]!r}")
            continue
        fv: list[float] = vals  # type: ignore[assignment]
        if len(toks) != ncol:
            # YOLO segment: cls then >= 3 (x, y) pairs, only for the default GT layout
            if is_gt_layout and len(toks) >= 7 and (len(toks) - 1) % 2 == 0:
                c = int_token(toks[0], 0, MAX_CLASS_INDEX)
                if c is None:
                    own.add(source, where, "class must be an integer from 0 to "
                            f"{MAX_CLASS_INDEX}, got {toks[0][:30]!r}")
                    continue
                pts = np.asarray(fv[1:]).reshape(-1, 2)
                if not seg_warned:
                    own.warn(source, where, "polygon (segment) label: using its bounding box")
                    seg_warned = True
                with np.errstate(invalid="ignore"):
                    box = [pts[:, 0].min(), pts[:, 1].min(), pts[:, 0].max(), pts[:, 1].max()]
                cls_l.append(c)
                box_l.append([float(v) for v in box])
                conf_l.append(float("nan"))
                line_l.append(ln)
                continue
            own.add(source, where, f"expected {ncol} values ({' '.join(cols)}), got {len(toks)}")
            continue
        c = int_token(toks[ic], 0, MAX_CLASS_INDEX)
        if c is None:
            own.add(source, where, f"class must be an integer from 0 to {MAX_CLASS_INDEX}, "
                    f"got {toks[ic][:30]!r}")
            continue
        d = dict(zip(cols, fv, strict=True))
        if "cx" in d:
            hw, hh = d["w"] / 2, d["h"] / 2
            box = [d["cx"] - hw, d["cy"] - hh, d["cx"] + hw, d["cy"] + hh]
        elif "x1" in d:
            box = [d["x1"], d["y1"], d["x2"], d["y2"]]
        else:
            box = [d["x"], d["y"], d["x"] + d["w"], d["y"] + d["h"]]
        cls_l.append(c)
        box_l.append(box)
        conf_l.append(fv[icf] if icf >= 0 else float("nan"))
        line_l.append(ln)
    return (
        np.asarray(cls_l, dtype=np.int64),
        np.asarray(box_l, dtype=np.float64).reshape(-1, 4),
        np.asarray(conf_l, dtype=np.float64),
        np.asarray(line_l, dtype=np.int64),
    )


# ---------------------------------------------------------------------- names, data.yaml
def _yaml_depth(text: str) -> int:
    """The deepest nesting of [ and { (a rough bound: quotes are not parsed)."""
    depth = best = 0
    for ch in text:
        if ch in "[{":
            depth += 1
            best = max(best, depth)
        elif ch in "]}":
            depth = max(depth - 1, 0)
    return best


def _yaml_load(text: str, source: str) -> Any:
    if len(text) > 16 << 20:
        raise InputError(source, "", "YAML file larger than 16 MB: not a dataset description")
    if ("[" in text or "{" in text) and _yaml_depth(text) > 64:
        raise InputError(source, "", "YAML nested too deeply (more than 64 levels of [ or {)")
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise InputError(source, where, f"malformed YAML: {problem}") from None
    except RecursionError:
        raise InputError(source, "", "YAML nested too deeply") from None


def _names_from(obj: Any, source: str) -> list[str]:
    names = obj.get("names") if isinstance(obj, dict) else None
    if isinstance(names, dict):
        table: dict[int, str] = {}
        for k, v in names.items():
            ik = int_token(k, 0, MAX_CLASS_INDEX) if not isinstance(k, bool) else None
            if ik is None:
                raise InputError(source, "key 'names'", f"keys must be class indices 0..n-1, "
                                 f"got {str(k)[:30]!r}")
            if ik in table:
                raise InputError(source, "key 'names'", f"class index {ik} is given twice "
                                 f"({str(k)!r})")
            table[ik] = str(v)
        if sorted(table) != list(range(len(table))):
            raise InputError(source, "key 'names'", "class indices must be 0..n-1 without gaps")
        return [table[k] for k in range(len(table))]
    if isinstance(names, list):
        if len(names) > MAX_CLASS_INDEX + 1:
            raise InputError(source, "key 'names'", f"more than {MAX_CLASS_INDEX + 1} names")
        return [str(n) for n in names]
    nc = obj.get("nc") if isinstance(obj, dict) else None
    if isinstance(nc, int) and not isinstance(nc, bool) and 0 <= nc <= MAX_CLASS_INDEX + 1:
        return [f"class_{i}" for i in range(nc)]
    raise InputError(source, "", "no 'names' list or mapping in this YAML file")


def parse_names_file(text: str | bytes, source: str) -> list[str]:
    """``classes.txt`` / ``obj.names``: one name a line; or a YAML with ``names``."""
    text = decode_text(text, source)
    if source.endswith((".yaml", ".yml")):
        return _names_from(_yaml_load(text, source), source)
    return [ln.strip() for ln in text.split("\n") if ln.strip()]


def find_yolo_names(*folders: Path | None) -> Path | None:
    """data.yaml / *.yaml with names / classes.txt / obj.names in the folders or up to
    two folders above them."""
    seen: set[Path] = set()
    for f in folders:
        if f is None:
            continue
        f = Path(f)
        for d in [f, *list(f.parents)[:2]]:
            if d in seen or not d.is_dir():
                continue
            seen.add(d)
            for name in ("data.yaml", "dataset.yaml", "classes.txt", "obj.names", "classes.names"):
                p = d / name
                if regular_file(p):
                    return p
            for p in sorted(d.glob("*.yaml")):
                if not regular_file(p) or p.stat().st_size > 1 << 20:
                    continue
                try:
                    obj = yaml.safe_load(p.read_text(encoding="utf-8", errors="replace"))
                except (yaml.YAMLError, RecursionError, OSError):
                    continue
                if isinstance(obj, dict) and "names" in obj:
                    return p
            for p in sorted(d.glob("*.names")):
                if regular_file(p):
                    return p
    return None


def _isdir(p: Path) -> bool:
    """``p.is_dir()`` that is False (not an exception) for over-long or odd paths."""
    try:
        return p.is_dir()
    except (OSError, ValueError):
        return False


def _is_root_like(p: Path) -> bool:
    """A filesystem root or the home folder: never walked as a dataset."""
    try:
        r = p.resolve()
    except (OSError, RuntimeError, ValueError):  # RuntimeError: a symbolic link loop
        return True
    return r == Path(r.anchor) or r == Path.home().resolve() or len(r.parts) <= 1


@dataclass
class DataYaml:
    """A parsed Ultralytics data.yaml: where the images are and which split is which."""

    path: Path  # the yaml file
    base: Path  # the dataset root the splits are relative to
    names: list[str] | None
    splits: dict[str, list[tuple[str, Path]]]  # split -> [("dir"|"list", path)]
    other: dict[str, Any] = field(default_factory=dict)  # keys passed through on export
    problems: list[Problem] = field(default_factory=list)


def parse_data_yaml(path: Path) -> DataYaml:
    """Read an Ultralytics/YOLOv5 ``data.yaml``; split paths are checked (relative
    ones must stay inside the dataset folder; a filesystem root is refused)."""
    src = str(path)
    obj = _yaml_load(decode_text(read_bytes(path), path), src)
    if not isinstance(obj, dict):
        raise InputError(path, "", "expected a mapping with 'names' and train/val/test")
    problems = Problems()
    names = None
    if "names" in obj or "nc" in obj:
        names = _names_from(obj, src)
    here = path.parent
    base = here
    pv = obj.get("path")
    if pv not in (None, ""):
        if not isinstance(pv, str) or "\0" in pv or len(pv) > 4096 or any(
                len(part.encode("utf-8", "replace")) > 255 for part in pv.split("/")):
            problems.warn(path, "key 'path'", f"unusable 'path' {str(pv)[:60]!r}; the splits are "
                          "read relative to this file's folder")
        else:
            cand = Path(pv) if os.path.isabs(pv) else (here / pv)
            if _is_root_like(cand):
                problems.warn(path, "key 'path'", f"'path: {pv}' is a filesystem root or the "
                              "home folder; not searched (the splits are read relative to this "
                              "file's folder)")
            elif _isdir(cand):
                base = cand
            else:
                problems.warn(path, "key 'path'", f"'path: {pv}' is not a folder; the splits are "
                              "read relative to this file's folder")
    splits: dict[str, list[tuple[str, Path]]] = {}
    for key in _SPLITS:
        v = obj.get(key)
        if v in (None, ""):
            continue
        entries = v if isinstance(v, list) else [v]
        for e in entries:
            if not isinstance(e, str) or not e.strip():
                problems.warn(path, f"key '{key}'", f"not a path: {str(e)[:60]!r}")
                continue
            if os.path.isabs(e):
                p = Path(e)
                if len(e) > 4096 or "\0" in e or _is_root_like(p):
                    problems.warn(path, f"key '{key}'", f"{e[:60]!r} is unusable, a filesystem "
                                  "root or the home folder; not searched")
                    continue
            else:
                why = unsafe_reason(e)
                if why is not None:
                    # Ultralytics also tries "../x" as "x" under path
                    if e.startswith("../") and unsafe_reason(e[3:]) is None and \
                            (_isdir(base / e[3:]) or regular_file(base / e[3:])):
                        e = e[3:]
                    else:
                        problems.warn(path, f"key '{key}'", f"{e[:60]!r}: {why}; not read")
                        continue
                p = base / safe_name(e)
            if _isdir(p):
                splits.setdefault(key, []).append(("dir", p))
            elif regular_file(p) and p.suffix.lower() == ".txt":
                splits.setdefault(key, []).append(("list", p))
            else:
                problems.warn(path, f"key '{key}'", f"{e[:80]} not found under {base}")
    other = {k: v for k, v in obj.items()
             if k not in ("path", "names", "nc", "download", *_SPLITS)}
    return DataYaml(path, base, names, splits, other, problems.items)


def _read_list_file(p: Path, base: Path, images_root: Path, problems: Problems) -> list[str]:
    """Image names (relative to ``images_root``) listed in a split list file."""
    out: list[str] = []
    text = decode_text(read_bytes(p), p)
    for ln, raw in enumerate(text.split("\n"), start=1):
        s = raw.strip()
        if not s or s.startswith("#"):
            continue
        where = f"line {ln}"
        if os.path.isabs(s):
            try:
                rel = os.path.relpath(s, images_root)
            except ValueError:
                rel = "../"
        elif s.startswith("./"):
            rel = os.path.relpath(os.path.join(p.parent, s[2:]), images_root)
        else:
            rel = os.path.relpath(os.path.join(base, s), images_root)
        why = unsafe_reason(rel.replace(os.sep, "/"))
        if why is not None:
            problems.warn(p, where, f"{s[:80]!r}: outside the image folder {images_root} or "
                          f"unusable ({why}); skipped")
            continue
        out.append(safe_name(rel))
    return out


# ---------------------------------------------------------------------- label paths
def label_path(image: str) -> str:
    """Ultralytics' rule: the last ``/images/`` of an image path becomes ``/labels/``
    and the extension ``.txt`` (a path without ``images/`` has its label beside it)."""
    s = "/" + image.lstrip("/") if not image.startswith("/") else image
    parts = s.rsplit("/images/", 1)
    s = "/labels/".join(parts)
    if not image.startswith("/"):
        s = s[1:]
    head, _, tail = s.rpartition("/")
    stem = tail.rsplit(".", 1)[0] if "." in tail else tail
    return f"{head}/{stem}.txt" if head else f"{stem}.txt"


def _stem_txt(rel: str) -> str:
    head, _, tail = rel.rpartition("/")
    stem = tail.rsplit(".", 1)[0] if "." in tail else tail
    return f"{head}/{stem}.txt" if head else f"{stem}.txt"


@dataclass
class _Plan:
    images_root: Path
    files: list[str]
    labels_root: Path  # folder every label must be inside
    label_of: Callable[[str], Path]
    rule: str
    names_file: Path | None
    data_yaml: DataYaml | None = None
    split_of: dict[str, list[tuple[str, Any]]] = field(default_factory=dict)


def _split_plan(dy: DataYaml, images: Path | None, problems: Problems) -> _Plan:
    """Images and labels from the splits of a data.yaml."""
    dirs = [p for entries in dy.splits.values() for kind, p in entries if kind == "dir"]
    if images is not None:
        root = Path(images)
    elif dirs and all(_under(d, dy.base / "images") for d in dirs):
        root = dy.base / "images"
    else:
        root = dy.base
    if not root.is_dir():
        raise InputError(root, "", "image folder not found")
    files: list[str] = []
    seen: set[str] = set()
    split_of: dict[str, list[tuple[str, Any]]] = {}
    for split, entries in dy.splits.items():
        for kind, p in entries:
            if kind == "dir":
                if not _under(p, root):
                    continue
                rel_dir = os.path.relpath(p, root).replace(os.sep, "/")
                rel_dir = "" if rel_dir == "." else rel_dir
                names = [f"{rel_dir}/{f}" if rel_dir else f for f in list_images(p)]
                split_of.setdefault(split, []).append(("dir", rel_dir))
            else:
                names = [n for n in _read_list_file(p, dy.base, root, problems)]
                split_of.setdefault(split, []).append(("list", (p.name, names)))
            for n in names:
                if n not in seen:
                    seen.add(n)
                    files.append(n)
    if not files:
        where = ", ".join(f"{k}: {[str(p) for _, p in v]}" for k, v in dy.splits.items())
        if images is not None and list_images(root)[:1]:
            files = list_images(root)
            split_of = {}
        else:
            shown = where or "no train/val/test entries"
            raise InputError(dy.path, "", f"no images in the splits of this file ({shown}) "
                             f"under {root}")
    files.sort()
    base = dy.base

    def label_of(rel: str) -> Path:
        return Path(label_path(os.fspath(root / rel)))

    return _Plan(root, files, base, label_of, "Ultralytics (images/ -> labels/)", dy.path, dy,
                 split_of)


def _under(p: Path, folder: Path) -> bool:
    try:
        rp, rf = os.path.abspath(p), os.path.abspath(folder)
    except (OSError, ValueError):
        return False
    return rp == rf or rp.startswith(rf.rstrip(os.sep) + os.sep)


def _folder_plan(labels: Path, images: Path | None, names_file: Path | None) -> _Plan:
    """Labels in a folder (``labels/`` or beside the images)."""
    labels = Path(labels)
    if images is None:
        s = labels.as_posix()
        i = s.rfind("/labels")
        cand = Path(s[:i] + "/images" + s[i + len("/labels"):]) if i >= 0 else None
        images = cand if cand is not None and cand.is_dir() else labels
    images = Path(images)
    if labels.is_dir() and (labels / "labels").is_dir() and not any(labels.glob("*.txt")):
        labels = labels / "labels"
        if images == labels.parent and (images / "images").is_dir():
            images = images / "images"
    if not images.is_dir():
        raise InputError(images, "", "image folder not found")
    if not labels.is_dir():
        raise InputError(labels, "", "label folder not found")
    files = list_images(images)
    if not files:
        raise InputError(images, "", "no image files in this folder")

    def by_rel(rel: str) -> Path:
        return labels / _stem_txt(rel)

    def by_rule(rel: str) -> Path:
        return Path(label_path(os.fspath(images / rel)))

    # which rule finds the label files? (decided once, on a sample)
    sample = files[:: max(1, len(files) // 200)][:200]
    hits_rel = sum(regular_file(by_rel(f)) for f in sample)
    hits_rule = sum(regular_file(by_rule(f)) and _under(by_rule(f), labels) for f in sample)
    if hits_rule > hits_rel:
        return _Plan(images, files, labels, by_rule, "Ultralytics (images/ -> labels/)",
                     names_file)
    return _Plan(images, files, labels, by_rel, f"same relative path under {labels}", names_file)


def read_yolo_gt(
    images_dir: Path | None,
    labels_dir: Path | None,
    *,
    class_names: Sequence[str] | None = None,
    names_file: Path | None = None,
    data_yaml: Path | None = None,
    columns: str = GT_COLUMNS,
    clip: bool = False,
    logger: logging.Logger | None = None,
    progress: Progress = None,
) -> GtResult:
    """Read Ultralytics/Darknet labels: from a ``data.yaml`` (every split), or one txt
    per image under ``labels_dir``. Sizes come from image headers."""
    problems = Problems()
    if data_yaml is not None:
        dy = parse_data_yaml(Path(data_yaml))
        problems.extend(dy.problems)
        if dy.splits:
            plan = _split_plan(dy, images_dir, problems)
        elif labels_dir is not None or images_dir is not None:
            labels = labels_dir or _labels_for_images(images_dir) or images_dir
            assert labels is not None
            plan = _folder_plan(labels, images_dir, data_yaml)
            plan.data_yaml = dy
        else:
            base = dy.base
            if not ((base / "images").is_dir() and (base / "labels").is_dir()):
                shown = "; ".join(p.message for p in dy.problems[:3])
                raise InputError(dy.path, "", "none of the train/val/test folders of this file "
                                 f"was found under {base}" + (f" ({shown})" if shown else ""))
            plan = _folder_plan(base / "labels", base / "images", data_yaml)
            plan.data_yaml = dy
        try:
            return _read_plan(plan, class_names, columns, clip, problems, logger, progress)
        except InputError as exc:
            if str(dy.path) in str(exc):
                raise
            raise InputError(dy.path, "", f"{exc.problem}") from None
    else:
        if labels_dir is None:
            raise InputError(images_dir or "(labels)", "", "no YOLO label folder given")
        plan = _folder_plan(labels_dir, images_dir, names_file)
    return _read_plan(plan, class_names, columns, clip, problems, logger, progress)


def _labels_for_images(images: Path | None) -> Path | None:
    if images is None:
        return None
    s = Path(images).as_posix()
    if "/images" in s:
        i = s.rfind("/images")
        cand = Path(s[:i] + "/labels" + s[i + len("/images"):])
        if cand.is_dir():
            return cand
    return None


def _read_plan(plan: _Plan, class_names: Sequence[str] | None, columns: str, clip: bool,
               problems: Problems, logger: logging.Logger | None,
               progress: Progress) -> GtResult:
    files = plan.files
    n = len(files)
    names: list[str] | None = list(class_names) if class_names else None
    names_src = "given"
    if names is None and plan.data_yaml is not None and plan.data_yaml.names is not None:
        names, names_src = list(plan.data_yaml.names), str(plan.data_yaml.path)
    if names is None:
        nf = plan.names_file or find_yolo_names(plan.labels_root, plan.images_root)
        if nf is not None:
            names = parse_names_file(read_bytes(nf), str(nf))
            names_src = str(nf)
    w, h, ok = read_sizes(plan.images_root, files, problems, logger=logger)
    guard = Root(plan.labels_root)
    img_l: list[np.ndarray] = []
    cls_l: list[np.ndarray] = []
    box_l: list[np.ndarray] = []
    line_l: list[np.ndarray] = []
    where_l: list[str] = []
    rel_l: list[str | None] = [None] * n
    dig_l: list[bytes | None] = [None] * n
    first_row = np.zeros(n + 1, dtype=np.int64)
    missing = 0
    label_paths: list[Path] = []
    nrows = 0
    for i, rel in enumerate(files):
        if progress is not None and i % 256 == 0 and progress(i, n) is False:
            raise Cancelled("cancelled")
        lp = plan.label_of(rel)
        label_paths.append(lp)
        first_row[i] = nrows
        if not _under(lp, plan.labels_root) or not guard.inside(lp):
            problems.warn(lp, "", f"label file outside {plan.labels_root}; not read")
            continue
        if not regular_file(lp):
            missing += 1
            continue
        try:
            data = lp.read_bytes()
        except OSError as exc:
            problems.warn(lp, "", f"cannot read: {exc.strerror or exc}")
            continue
        before = len(problems.items)
        try:
            c, b, _, lines = parse_yolo_txt(data, str(lp), columns=columns, problems=problems)
        except InputError as exc:
            problems.extend(exc.problems)
            continue
        rel_l[i] = os.path.relpath(lp, plan.labels_root).replace(os.sep, "/")
        clean = len(problems.items) == before
        if not len(c):
            dig_l[i] = file_digest(data) if clean else None
            continue
        if not ok[i]:
            problems.warn(lp, "", f"{len(c)} boxes skipped: the image size is unknown")
            continue
        with np.errstate(over="ignore", invalid="ignore"):
            b = b * np.array([w[i], h[i], w[i], h[i]], dtype=np.float64)
        img_l.append(np.full(len(c), i, dtype=np.int64))
        cls_l.append(c)
        box_l.append(b)
        line_l.append(lines - 1)
        where_l.extend(f"{lp.name}: line {ln}" for ln in lines.tolist())
        dig_l[i] = file_digest(data) if clean else None
        nrows += len(c)
    first_row[n] = nrows
    # label files without images (only beside/under a labels folder of ours)
    if plan.data_yaml is None or not plan.data_yaml.splits:
        have = {os.path.abspath(p) for p in label_paths}
        orphans: list[str] = []
        for dirpath, dirnames, filenames in os.walk(plan.labels_root):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for f in sorted(filenames):
                if f.endswith(".txt") and f not in _NOT_LABELS and \
                        os.path.abspath(os.path.join(dirpath, f)) not in have:
                    orphans.append(os.path.join(dirpath, f))
            if len(orphans) > 10_000:
                break
        for p in orphans[:20]:
            problems.warn(p, "", "label file without an image")
        if len(orphans) > 20:
            problems.warn(plan.labels_root, "", f"{len(orphans) - 20} more label files without "
                          "an image")
        found = n - missing
        if n and found == 0 and orphans:
            raise InputError(plan.labels_root, "", f"none of the {n} images under "
                             f"{plan.images_root} has a label file, but {len(orphans)} label "
                             "files have no image (e.g. "
                             f"{os.path.relpath(orphans[0], plan.labels_root)}): are the image "
                             "and label folders a pair? (labels are looked up by "
                             f"{plan.rule})")
    if n and missing == n:
        raise InputError(plan.labels_root, "", f"no label file found for any of the {n} images "
                         f"under {plan.images_root} (labels are looked up by {plan.rule}, e.g. "
                         f"{label_paths[0]})")
    if missing:
        problems.warn(plan.labels_root, "", f"{missing} of {n} images have no label file "
                      "(taken as images without boxes)")
    img = np.concatenate(img_l) if img_l else np.zeros(0, np.int64)
    cls = np.concatenate(cls_l) if cls_l else np.zeros(0, np.int64)
    xyxy = np.concatenate(box_l) if box_l else np.zeros((0, 4))
    line = np.concatenate(line_l) if line_l else np.zeros(0, np.int64)
    if names is None:
        k = int(cls.max()) + 1 if len(cls) else 0
        names = [str(j) for j in range(k)]
        names_src = "none"
        problems.warn(plan.labels_root, "", "no class names found (data.yaml, classes.txt, "
                      "obj.names); classes are named by their index")
    keep = np.ones(len(cls), dtype=bool)
    if len(cls) and int(cls.max()) >= len(names):
        bad = cls >= len(names)
        for r in np.flatnonzero(bad)[:20].tolist():
            problems.warn(plan.labels_root, where_l[r], f"class {int(cls[r])} is not in the "
                          f"{len(names)} class names; box skipped")
        if int(bad.sum()) > 20:
            problems.warn(plan.labels_root, "", f"{int(bad.sum()) - 20} more boxes with a class "
                          "beyond the names; skipped")
        keep &= ~bad
    ok_b, xyxy2 = check_boxes(xyxy, None, w[img], h[img], problems, str(plan.labels_root),
                              lambda r: where_l[r], clip=clip)
    keep &= ok_b
    changed = ~keep | np.any(xyxy2 != xyxy, axis=1)
    for i in np.unique(img[changed]).tolist():
        dig_l[int(i)] = None  # a file with a skipped or clipped box is written anew
    images = Images(np.arange(n, dtype=np.int64), files, w, h)
    classes = Classes.from_names(names)
    gt = Boxes.build(n, img[keep], cls[keep], xyxy2[keep])
    meta: dict[str, Any] = {
        "format": "yolo",
        "images_root": str(plan.images_root),
        "gt_path": str(plan.data_yaml.path if plan.data_yaml is not None else plan.labels_root),
        "yolo": {"names_source": names_src, "labels_dir": str(plan.labels_root),
                 "missing_label_files": missing, "rule": plan.rule},
    }
    if plan.data_yaml is not None:
        meta["yolo"]["data_yaml"] = str(plan.data_yaml.path)
        meta["yolo"]["yaml_other"] = dict(plan.data_yaml.other)
        if plan.split_of:
            meta["yolo"]["splits"] = plan.split_of
    meta["source_files"] = SourceFiles(
        format="yolo", root=str(plan.labels_root), rel=tuple(rel_l), digest=tuple(dig_l),
        class_names=tuple(names), widths=w.copy(), heights=h.copy(),
        offsets=gt.offsets.copy(), box_id=gt.box_id.copy(), cls=gt.cls.copy(),
        xyxy=gt.xyxy.copy(), line=line[keep].copy(), options=(columns,))
    return GtResult(Dataset(images, classes, gt, meta=meta), problems.items)


# ---------------------------------------------------------------------- predictions
def _txt_files(path: Path) -> list[Path]:
    out: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(path):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for f in sorted(filenames):
            if f.endswith(".txt") and f not in _NOT_LABELS and not f.startswith("."):
                out.append(Path(dirpath) / f)
    return out


def read_yolo_preds(
    path: Path,
    *,
    columns: str = PRED_COLUMNS,
    normalized: bool | None = None,
    names_file: Path | None = None,
    logger: logging.Logger | None = None,
    progress: Progress = None,
) -> PredData:
    """A folder of txt files (one per image, named by the image stem) or one txt file.

    Class names (``names_file``, else a data.yaml/classes.txt/*.names found in or up to
    two folders above) become the file's vocabulary, so classes can be matched by name.
    """
    path = Path(path)
    problems = Problems()
    cols = _spec(columns)
    if normalized is None:
        normalized = "cx" in cols
    files = _txt_files(path) if path.is_dir() else [path]
    if path.is_dir() and not files:
        raise InputError(path, "", "no .txt prediction files in this folder")
    names_l: list[str] = []
    cls_l: list[np.ndarray] = []
    box_l: list[np.ndarray] = []
    conf_l: list[np.ndarray] = []
    where_l: list[str] = []
    for k, f in enumerate(files):
        if progress is not None and k % 256 == 0 and progress(k, len(files)) is False:
            raise Cancelled("cancelled")
        c, b, s, lines = parse_yolo_txt(read_bytes(f), str(f), columns=columns, problems=problems)
        if path.is_dir():
            stem = str(f.relative_to(path).with_suffix("")).replace("\\", "/")
        else:
            stem = f.stem
        names_l.extend([stem] * len(c))
        cls_l.append(c)
        box_l.append(b)
        conf_l.append(s)
        where_l.extend(f"{f.name}: line {ln}" for ln in lines.tolist())
    problems.raise_if_errors()
    cls = np.concatenate(cls_l) if cls_l else np.zeros(0, np.int64)
    xyxy = np.concatenate(box_l) if box_l else np.zeros((0, 4))
    conf = np.concatenate(conf_l) if conf_l else np.zeros(0)
    if "conf" not in cols:
        problems.warn(path, "", "no confidence column: every prediction gets score 1.0")
        conf = np.ones_like(conf)
    fin = np.isfinite(xyxy)
    if normalized and fin.any() and float(np.abs(xyxy[fin]).max()) > 1.5:
        problems.warn(path, "", "coordinates larger than 1 in a normalised layout: are these "
                      "absolute pixels? (set normalized=False / the column layout)")
    fc = conf[np.isfinite(conf)]
    if "conf" in cols and len(fc) and (fc.max() > 1.0 or fc.min() < 0):
        problems.warn(path, "", f"confidences outside 0..1 (column {cols.index('conf') + 1} of "
                      f"'{columns}'): is the confidence in another column?")
    vocab = None
    nf = names_file or find_yolo_names(path if path.is_dir() else path.parent)
    if nf is not None:
        try:
            vocab = dict(enumerate(parse_names_file(read_bytes(nf), str(nf))))
        except InputError as exc:
            problems.extend([Problem(p.path, p.where, p.message, "warning") for p in exc.problems])
    return PredData(source=str(path), format="yolo", xyxy=xyxy, score=conf,
                    image_names=names_l, cls_ids=cls, normalized=bool(normalized),
                    vocab=vocab, where=where_l, problems=problems.items)


# ---------------------------------------------------------------------- writing
def _fmt6(v: float) -> str:
    s = f"{v:.6f}"
    return "0.000000" if s == "-0.000000" else s


def yolo_line(c: int, xyxy: Sequence[float], w: int, h: int, score: float | None = None) -> str:
    x1, y1, x2, y2 = (float(v) for v in xyxy)
    line = (f"{int(c)} {_fmt6((x1 + x2) / 2 / w)} {_fmt6((y1 + y2) / 2 / h)} "
            f"{_fmt6((x2 - x1) / w)} {_fmt6((y2 - y1) / h)}")
    if score is not None:
        line += f" {float(score):.6f}"
    return line


def yolo_lines(cls: np.ndarray, xyxy: np.ndarray, w: int, h: int,
               score: np.ndarray | None = None) -> str:
    """Label text for one image: ``cls cx cy w h [conf]`` with 6 decimals."""
    if w <= 0 or h <= 0:
        raise ValueError("image size unknown: cannot normalise YOLO coordinates")
    out = [yolo_line(int(cls[k]), xyxy[k], w, h, None if score is None else float(score[k]))
           for k in range(len(cls))]
    return "\n".join(out) + ("\n" if out else "")


def _out_image_rel(rel: str) -> str:
    """Where an image goes in an export: under ``images/`` unless its path already
    has an ``images`` folder (``train/images/x.jpg``, Roboflow's layout)."""
    return rel if "images" in rel.split("/")[:-1] else f"images/{rel}"


def _label_text(ds: Dataset, i: int, out: Output) -> bytes:
    """The label file of image ``i``: its source bytes when unchanged, else new text in
    which every unchanged box keeps its source line."""
    same = out.unchanged(i, "yolo", (GT_COLUMNS,), same_vocabulary=True)
    if same is not None:
        return same
    gt = ds.gt
    im = ds.images
    sl = gt.image_slice(i)
    a = gt.alive[sl]
    rows = np.arange(sl.start, sl.stop)[a]
    wi, hi = int(im.widths[i]), int(im.heights[i])
    if (wi <= 0 or hi <= 0) and len(rows):
        raise InputError(im.file_names[i], "", "image size unknown: cannot write normalised "
                         "YOLO coordinates")
    crowd = gt.iscrowd[rows]
    if crowd.any():
        out.warn(f"{im.file_names[i]}: {int(crowd.sum())} crowd region(s) left out (YOLO has "
                 "no crowd flag; Ultralytics' own COCO converter skips them too)")
        rows = rows[~crowd]
    old_lines = _source_lines(ds, i, out)
    lines = []
    for r in rows.tolist():
        src = old_lines.get(int(gt.box_id[r])) if old_lines else None
        if src is not None and src[0] == int(gt.cls[r]) and np.array_equal(src[1], gt.xyxy[r]):
            lines.append(src[2])
        else:
            lines.append(yolo_line(int(gt.cls[r]), gt.xyxy[r], wi, hi))
    return ("\n".join(lines) + ("\n" if lines else "")).encode("utf-8")


def _source_lines(ds: Dataset, i: int, out: Output) -> dict[int, tuple[int, np.ndarray, str]]:
    """box id -> (class, xyxy as read, the line's text) for image ``i``'s source file."""
    sf: SourceFiles | None = ds.meta.get("source_files")
    if sf is None or sf.format != "yolo" or sf.line is None or sf.options != (GT_COLUMNS,):
        return {}
    if i >= len(sf.rel) or sf.rel[i] is None:
        return {}
    if tuple(ds.classes.names[: len(sf.class_names)]) != sf.class_names:
        return {}
    if ds.images.widths[i] != sf.widths[i] or ds.images.heights[i] != sf.heights[i]:
        return {}
    p = Path(sf.root) / str(sf.rel[i])
    try:
        if not regular_file(p) or not Root(sf.root).inside(p):
            return {}
        text = decode_text(p.read_bytes(), p)
    except (OSError, InputError):
        return {}
    lines = text.split("\n")
    o0, o1 = int(sf.offsets[i]), int(sf.offsets[i + 1])
    got: dict[int, tuple[int, np.ndarray, str]] = {}
    for k in range(o0, o1):
        ln = int(sf.line[k])
        if 0 <= ln < len(lines):
            got[int(sf.box_id[k])] = (int(sf.cls[k]), sf.xyxy[k], lines[ln].strip())
    return got


def _data_yaml(ds: Dataset, out: Output, image_rel: dict[int, str]) -> bytes:
    meta = ds.meta.get("yolo") or {} if ds.meta.get("format") == "yolo" else {}
    body: dict[str, Any] = {}
    if out.options.get("yolo_path") == "absolute":
        body["path"] = os.fspath(out.final.resolve())
    splits = meta.get("splits") or {}
    kept = set(image_rel)
    names_of = ds.images.file_names
    for split in _SPLITS:
        entries = splits.get(split)
        if not entries:
            continue
        vals: list[str] = []
        for kind, v in entries:
            if kind == "dir":
                d = _out_image_rel(f"{v}/x.jpg" if v else "x.jpg").rsplit("/", 1)[0]
                vals.append(d)
            else:
                list_name, members = v
                wanted = set(members)
                lines = [f"./{image_rel[i]}" for i in sorted(kept)
                         if names_of[i] in wanted]
                name = out.rel(list_name if list_name.endswith(".txt") else f"{split}.txt")
                out.write(name, ("\n".join(lines) + ("\n" if lines else "")).encode("utf-8"))
                vals.append(name)
        vals = list(dict.fromkeys(vals))
        body[split] = vals[0] if len(vals) == 1 else vals
    if "train" not in body:
        body["train"] = "images"
    if "val" not in body:
        body["val"] = body["train"]
    body["names"] = {k: n for k, n in enumerate(ds.classes.names)}
    for k, v in (meta.get("yaml_other") or {}).items():
        body.setdefault(k, v)
    return yaml.safe_dump(body, sort_keys=False, allow_unicode=True).encode("utf-8")


def write(ds: Dataset, out: Output) -> None:
    im = ds.images
    keep = np.flatnonzero(~im.deleted).tolist()
    image_rel: dict[int, str] = {}
    for k, i in enumerate(keep):
        out.tick(k, len(keep))
        rel = _out_image_rel(im.file_names[i])
        image_rel[i] = rel
        out.write(label_path(rel), _label_text(ds, i, out))
    out.write("data.yaml", _data_yaml(ds, out, image_rel))
    out.copy_images("", [(i, image_rel[i]) for i in keep])
    if out.images_mode == "none":
        out.warn("images not copied: data.yaml expects them under images/ in the export; "
                 "copy or link them (--copy-images / --link-images) before training on it")


def write_preds(ds: Dataset, run: str, out: Output) -> None:
    b = ds.runs[run]
    im = ds.images
    for i in np.flatnonzero(~im.deleted).tolist():
        sl = b.image_slice(i)
        a = b.alive[sl]
        if not a.any():
            continue
        txt = yolo_lines(b.cls[sl][a], b.xyxy[sl][a], int(im.widths[i]), int(im.heights[i]),
                         b.score[sl][a])
        out.write(_stem_txt(im.file_names[i]), txt.encode("utf-8"))


# ---------------------------------------------------------------------- the format
def read_gt(req: ReadRequest) -> GtResult:
    """Ground truth from a data.yaml, a dataset folder, a labels folder or a flat folder."""
    gt = req.gt
    columns = req.options.get("yolo_columns") or GT_COLUMNS
    kw: dict[str, Any] = {"class_names": req.class_names, "columns": columns, "clip": req.clip,
                          "logger": req.logger, "progress": req.progress}
    images = req.images
    if gt.is_file():
        suf = gt.suffix.lower()
        if suf in (".yaml", ".yml"):
            return read_yolo_gt(images, None, data_yaml=gt, **kw)
        if suf in (".txt", ".names"):
            if images is None:
                lay = layout(gt.parent)
                if lay is None or lay.labels is None:
                    raise InputError(gt, "", "give the YOLO labels folder (or data.yaml) as "
                                     "ground truth, with the image folder")
                return read_yolo_gt(lay.images, lay.labels, names_file=gt, **kw)
            labels = _labels_for_images(images) or images
            return read_yolo_gt(images, labels, names_file=gt, **kw)
        raise InputError(gt, "", "give the YOLO labels folder (or data.yaml) as ground truth")
    lay = layout(gt)
    if lay is not None:
        yml = lay.gt if lay.gt is not None and lay.gt.suffix.lower() in (".yaml", ".yml") \
            else None
        if yml is not None and parse_data_yaml(yml).splits:
            return read_yolo_gt(images, None, data_yaml=yml, **kw)
        if lay.labels is not None:
            return read_yolo_gt(images or lay.images, lay.labels,
                                names_file=None if yml is not None else lay.gt,
                                data_yaml=yml, **kw)
    if images is None:
        s = gt.as_posix()
        i = s.rfind("/labels")
        cand = Path(s[:i] + "/images" + s[i + len("/labels"):]) if i >= 0 else None
        images = cand if cand is not None and cand.is_dir() else gt
    return read_yolo_gt(images, gt, **kw)


def read_preds(path: Path, options: dict[str, Any] | None = None, logger: Any = None,
               progress: Any = None) -> PredData:
    o = options or {}
    return read_yolo_preds(path, columns=o.get("yolo_pred_columns") or PRED_COLUMNS,
                           normalized=o.get("yolo_normalized"), logger=logger, progress=progress)


def sniff(path: Path, head: bytes) -> int:
    if path.is_dir():
        return 0
    suf = path.suffix.lower()
    return 50 if suf in (".txt", ".names", ".yaml", ".yml") else 0


def layout(root: Path) -> Layout | None:
    if (root / "images").is_dir() and (root / "labels").is_dir():
        names = find_yolo_names(root)
        return Layout(root, root / "images", names, "yolo",
                      "Ultralytics YOLO layout: images/ + labels/"
                      + (f" with class names from {names.name}" if names else
                         " (no data.yaml/classes.txt found)"), labels=root / "labels")
    for name in ("data.yaml", "dataset.yaml"):
        p = root / name
        if regular_file(p):
            try:
                dy = parse_data_yaml(p)
            except InputError:
                continue
            if dy.splits:
                return Layout(root, None, p, "yolo", f"YOLO {name} with splits "
                              f"{', '.join(dy.splits)}")
    return None


def flat_layout(root: Path) -> Layout | None:
    """Images with .txt labels beside them."""
    if any(root.glob("*.txt")) and list_images(root, recursive=False)[:1]:
        return Layout(root, root, find_yolo_names(root), "yolo",
                      "flat YOLO folder: images with .txt labels beside them", labels=root)
    return None


FORMAT = Format(
    name="yolo",
    title="YOLO / Ultralytics",
    convention="normalised centre cx cy w h (0..1 of the image width/height); written with "
               "6 decimals; integer pixels are rounded, never truncated",
    read_gt=read_gt,
    read_preds=read_preds,
    write=write,
    write_preds=write_preds,
    sniff=sniff,
    layout=layout,
    layout_order=10,
    per_image=True,
    aliases=("ultralytics", "darknet"),
)
