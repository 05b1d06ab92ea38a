"""The streaming COCO readers against the dict parsers they replace.

The referee is the dict parser (``parse_coco_gt`` / ``parse_coco_results`` over
``orjson``/``json``): on every file the streaming readers must give the same columns,
the same warnings and the same export bytes, or the same clean error naming the file.
"""

from __future__ import annotations

import copy
import json
import random
import tracemalloc
from pathlib import Path

import numpy as np
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from detview.core.cocoeval import evaluate_run
from detview.core.lazy import LazyExtras
from detview.io import jsonstream, load_dataset
from detview.io._common import parse_json
from detview.io.errors import InputError
from detview.io.formats import coco
from detview.io.loader import image_order, read_gt, read_preds
from tests.io.test_coco import small_coco

BOX_COLUMNS = ("box_id", "image", "cls", "xyxy", "score", "iscrowd", "area", "alive", "offsets")


def referee_gt(path: Path):
    return coco.parse_coco_gt(parse_json(path.read_bytes(), path), str(path))


def referee_preds(path: Path):
    return coco.parse_coco_results(parse_json(path.read_bytes(), path), str(path))


def outcome(fn):
    try:
        return fn(), None
    except InputError as exc:
        return None, str(exc)


def same_boxes(a, b) -> None:
    for c in BOX_COLUMNS:
        x, y = getattr(a, c), getattr(b, c)
        assert x.dtype == y.dtype and np.array_equal(x, y, equal_nan=x.dtype.kind == "f"), c


def assert_same_gt(path: Path) -> None:
    new, err_new = outcome(lambda: read_gt(path, None, "coco"))
    old, err_old = outcome(lambda: referee_gt(path))
    assert err_new == err_old
    if old is None:
        return
    a, b = new.dataset, old.dataset
    same_boxes(a.gt, b.gt)
    assert a.images.file_names == b.images.file_names
    assert np.array_equal(a.images.ids, b.images.ids)
    assert np.array_equal(a.images.widths, b.images.widths)
    assert [str(p) for p in new.problems] == [str(p) for p in old.problems]
    # the export writes the same bytes: extras, key orders, original floats
    assert orjson.dumps(coco.coco_gt_to_obj(a)) == orjson.dumps(coco.coco_gt_to_obj(b))


def assert_same_preds(path: Path) -> None:
    new, err_new = outcome(lambda: read_preds(path, "coco"))
    old, err_old = outcome(lambda: referee_preds(path))
    assert err_new == err_old
    if old is None:
        return
    for c in ("xyxy", "score", "cls_ids", "image_ids"):
        x, y = getattr(new, c), getattr(old, c)
        assert (x is None) == (y is None), c
        if x is not None:
            assert x.dtype == y.dtype and np.array_equal(x, y), c
    assert new.image_names == old.image_names
    assert [str(p) for p in new.problems] == [str(p) for p in old.problems]


# ------------------------------------------------------------------ ground truth
def test_streamed_gt_matches_the_dict_parser_and_keeps_extras_in_the_file(tmp_path):
    p = tmp_path / "gt.json"
    p.write_text(json.dumps(small_coco(), indent=1))
    res = coco.read_gt_stream(p)
    assert res is not None  # the streaming reader took it
    assert isinstance(res.dataset.gt.extras, LazyExtras) and not res.dataset.gt.extras.loaded
    assert_same_gt(p)


@pytest.mark.parametrize("change", [
    lambda d: d["annotations"][0].update(area="big"),  # a warning from the dict parser
    lambda d: d["annotations"][1].update(iscrowd=2),
    lambda d: d["annotations"][0].update(id="7"),  # an error naming the record
    lambda d: d["annotations"][1].pop("bbox"),
    lambda d: d["annotations"][2].update(image_id=999),  # unknown image: skipped, warned
    lambda d: d["annotations"][2].update(id=5),  # duplicate ids: numbered, ids kept
    lambda d: d["annotations"][0].update(bbox=[0, 0, 1e308, 5]),
    lambda d: d["images"][0].pop("width"),
    lambda d: d["images"][1].update(width=50.0),
    lambda d: d["images"][1].update(file_name="../up.jpg"),
    lambda d: d.pop("annotations"),
    lambda d: d.update(annotations={}),
    lambda d: d["annotations"].clear(),
    lambda d: d["categories"].append({"id": 1, "name": "again"}),
])
def test_irregular_gt_gives_what_the_dict_parser_gives(tmp_path, change):
    d = small_coco()
    change(d)
    p = tmp_path / "gt.json"
    p.write_text(json.dumps(d))
    assert_same_gt(p)


def test_gt_text_damage_is_a_clean_error(tmp_path):
    text = json.dumps(small_coco()).encode()
    rng = random.Random(3)
    for k in range(60):
        cut = bytearray(text)
        i = rng.randrange(len(cut))
        if k % 3 == 0:
            cut = cut[:i]
        elif k % 3 == 1:
            cut[i] = rng.choice(b'{}[],:"0a ')
        else:
            del cut[i:i + rng.randrange(1, 8)]
        p = tmp_path / f"gt{k}.json"
        p.write_bytes(bytes(cut))
        assert_same_gt(p)


def test_eval_never_reads_the_extras_and_export_reads_them_once(tmp_path):
    d = small_coco()
    p = tmp_path / "gt.json"
    p.write_text(json.dumps(d))
    preds = [{"image_id": a["image_id"], "category_id": a["category_id"], "bbox": a["bbox"],
              "score": 0.9} for a in d["annotations"]]
    (tmp_path / "p.json").write_text(json.dumps(preds))
    ds = load_dataset(None, p, [("p", tmp_path / "p.json")]).dataset
    assert evaluate_run(ds, "p").AP == pytest.approx(1.0)
    copy_ = ds.copy()  # what a session keeps as its original
    assert not ds.gt.extras.loaded and not copy_.gt.extras.loaded
    assert ds.gt.extras[5]["segmentation"] == {"counts": "abc", "size": [80, 100]}
    assert ds.gt.extras.loaded and copy_.gt.extras.loaded  # read once, shared


def test_export_refuses_a_gt_file_changed_since_loading(tmp_path):
    p = tmp_path / "gt.json"
    p.write_text(json.dumps(small_coco()))
    ds = read_gt(p, None, "coco").dataset
    d = small_coco()
    d["annotations"][0]["segmentation"] = [[9, 9, 9, 9, 9, 9]]
    p.write_text(json.dumps(d) + " ")
    with pytest.raises(InputError, match="changed since it was loaded") as exc:
        coco.coco_gt_to_obj(ds)
    assert str(p) in str(exc.value)


# ------------------------------------------------------------------ predictions
def pred_record(rng: random.Random, names: bool) -> dict:
    img = rng.choice(["a.jpg", "b.png"]) if names else rng.randrange(0, 5)
    bbox = [rng.choice([rng.random() * 500, float(rng.randrange(500)), rng.randrange(500),
                        round(rng.random() * 100, 2), 1e-7 * rng.random()]) for _ in range(4)]
    return {"image_id": img, "category_id": rng.randrange(1, 4), "bbox": bbox,
            "score": rng.choice([rng.random(), round(rng.random(), 4), 1, 0.1 + 0.2])}


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 10**6), n=st.integers(0, 400), chunk=st.sampled_from([64, 300, 4096]),
       indent=st.sampled_from([None, 1]), names=st.booleans(), damage=st.integers(0, 4))
def test_results_in_pieces_match_the_dict_parser(tmp_path, monkeypatch, seed, n, chunk, indent,
                                                 names, damage):
    """Any piece size, key order, layout: the same columns as the dict parser, or the
    same error; a damaged file included."""
    rng = random.Random(seed)
    recs = [pred_record(rng, names and rng.random() < 0.5) for _ in range(n)]
    if recs and rng.random() < 0.3:  # another key order everywhere
        recs = [dict(reversed(list(r.items()))) for r in recs]
    text = json.dumps(recs, indent=indent).encode()
    if damage == 1 and text:
        i = rng.randrange(len(text))
        text = text[:i] + rng.choice([b"x", b"NaN", b"-", b"}", b'"', b",", b"1e999"]) + text[i:]
    elif damage == 2 and recs:
        r = rng.choice(recs)
        r[rng.choice(list(r))] = rng.choice([None, True, "7", [1, 2, 3], 2**70, {"a": 1}])
        text = json.dumps(recs, indent=indent).encode()
    elif damage == 3 and recs:
        rng.choice(recs)["segmentation"] = {"counts": "},{\"x\":1}", "size": [1, 2]}
        text = json.dumps(recs, indent=indent).encode()
    monkeypatch.setattr(jsonstream, "CHUNK", chunk)
    p = tmp_path / f"preds-{seed}-{n}.json"
    p.write_bytes(text)
    assert_same_preds(p)


def test_a_large_results_file_is_read_in_pieces(tmp_path, monkeypatch):
    monkeypatch.setattr(jsonstream, "CHUNK", 1 << 18)  # 5 MB in 20 pieces
    rng = np.random.default_rng(0)
    n = 60_000
    recs = [{"image_id": int(i), "category_id": int(c), "bbox": [round(float(v), 2) for v in b],
             "score": round(float(s), 4)}
            for i, c, b, s in zip(rng.integers(0, 1000, n), rng.integers(1, 5, n),
                                  rng.random((n, 4)) * 300, rng.random(n), strict=True)]
    p = tmp_path / "big.json"
    p.write_bytes(orjson.dumps(recs))
    del recs
    assert coco.read_results_stream(p) is not None
    tracemalloc.start()
    pd = read_preds(p, "coco")
    stream_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    tracemalloc.start()
    ref = referee_preds(p)
    dict_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert np.array_equal(pd.xyxy, ref.xyxy) and np.array_equal(pd.score, ref.score)
    # columns plus one piece, not a dict per record
    assert stream_peak < dict_peak / 3, (stream_peak, dict_peak)


def test_image_order_is_the_stable_sort():
    rng = np.random.default_rng(1)
    for n_images in (3, 70_000, 5_000_000):
        img = rng.integers(0, n_images, 50_000)
        assert np.array_equal(image_order(img, n_images), np.argsort(img, kind="stable"))
    assert image_order(np.zeros(0, np.int64), 5).shape == (0,)


def test_predictions_are_sorted_by_image_with_file_order_ids(tmp_path):
    d = small_coco()
    p = tmp_path / "gt.json"
    p.write_text(json.dumps(d))
    preds = [{"image_id": i, "category_id": 1, "bbox": [1, 1, 5, 5], "score": s}
             for i, s in ((30, 0.1), (10, 0.2), (20, 0.3), (10, 0.4))]
    (tmp_path / "p.json").write_text(json.dumps(preds))
    run = load_dataset(None, p, [("p", tmp_path / "p.json")]).dataset.runs["p"]
    assert run.image.tolist() == [0, 0, 1, 2]
    assert run.score.tolist() == [0.2, 0.4, 0.3, 0.1]
    assert run.box_id.tolist() == [1, 3, 2, 0]  # the record's position in the file


def test_gt_copy_keeps_its_own_edits_of_lazy_extras(tmp_path):
    p = tmp_path / "gt.json"
    p.write_text(json.dumps(small_coco()))
    ds = read_gt(p, None, "coco").dataset
    other = ds.copy()
    other.gt.extras[1000] = {"note": "added"}
    del other.gt.extras[5]
    assert 1000 not in ds.gt.extras and 5 in ds.gt.extras
    assert 5 not in other.gt.extras and other.gt.extras[1000] == {"note": "added"}
    original = copy.deepcopy(small_coco()["annotations"][0]["segmentation"])
    assert ds.gt.extras[7]["segmentation"] == original


def test_loading_stops_when_the_progress_callback_says_so(tmp_path):
    from detview.io.errors import Cancelled

    p = tmp_path / "gt.json"
    p.write_text(json.dumps(small_coco()))
    preds = [{"image_id": 10, "category_id": 1, "bbox": [1, 1, 5, 5], "score": 0.5}] * 50
    (tmp_path / "p.json").write_text(json.dumps(preds))
    seen: list[tuple[int, int]] = []

    def stop(done: int, total: int) -> bool:
        seen.append((done, total))
        return False

    with pytest.raises(Cancelled):
        read_gt(p, None, "coco", progress=stop)
    with pytest.raises(Cancelled):
        read_preds(tmp_path / "p.json", "coco", progress=stop)
    assert seen and all(0 <= d <= t for d, t in seen)


def test_a_numeric_string_image_id_makes_names_as_the_dict_parser_does(tmp_path, monkeypatch):
    """One ``"image_id": "7"`` among integers: every id is a name then (the dict
    parser's rule), not the number 7 (what a numeric conversion would make of it)."""
    monkeypatch.setattr(jsonstream, "CHUNK", 64)  # the string in a later piece
    recs = [{"image_id": i % 5, "category_id": 1, "bbox": [1, 2, 3, 4], "score": 0.5}
            for i in range(30)]
    recs[20]["image_id"] = "7"
    p = tmp_path / "p.json"
    p.write_text(json.dumps(recs))
    assert_same_preds(p)
    got = read_preds(p, "coco")
    assert got.image_ids is None and got.image_names is not None
    assert got.image_names[20] == "7" and got.image_names[0] == "0"
