"""``--log`` is one of the shared dataset options: ``detview eval`` reads the logs it is
given (a line each, warnings for bad ones) and writes its table as without them;
``runs add`` takes one."""

from __future__ import annotations

from pathlib import Path

import pytest

from detview.cli.main import main as cli
from tests.gui.runs_data import write_results_csv, write_tiny_coco


def test_eval_reads_the_logs_and_writes_the_same_table(tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]
                                                       ) -> None:
    d = write_tiny_coco(tmp_path / "ds", runs=("a",))
    base = ["eval", "--images", str(d["images"]), "--gt", str(d["gt"]), "--pred",
            str(d["preds"]["a"])]  # type: ignore[index]
    assert cli([*base, "--out", str(tmp_path / "plain.csv")]) == 0
    csv = write_results_csv(tmp_path / "exp" / "results.csv", epochs=4)
    bad = tmp_path / "bad" / "metrics.json"
    bad.parent.mkdir()
    bad.write_text('{"iteration": 1, "loss": 0.5}\n{"iteration": nope}\n{"iteration": 2}\n')
    capsys.readouterr()
    assert cli([*base, "--log", str(csv), "--log", str(bad), "--out",
                str(tmp_path / "logs.csv")]) == 0
    err = capsys.readouterr().err
    assert f"training log {csv}: ultralytics" in err
    assert "warning" in err and "metrics.json" in err and "Traceback" not in err
    assert (tmp_path / "logs.csv").read_text() == (tmp_path / "plain.csv").read_text()


def test_runs_add_takes_one_log(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = write_tiny_coco(tmp_path / "ds", runs=("a",))
    csv = write_results_csv(tmp_path / "exp" / "results.csv", epochs=4)
    args = ["runs", "add", "--store", str(tmp_path / "s.sqlite"), "--images", str(d["images"]),
            "--gt", str(d["gt"]), "--pred", str(d["preds"]["a"]),  # type: ignore[index]
            "--log", str(csv)]
    assert cli([*args, "--log", str(csv)]) == 2
    assert "takes one --log" in capsys.readouterr().err
    assert cli(args) == 0
    from detview.io.store import Store

    with Store(tmp_path / "s.sqlite") as store:
        assert store.get_run("a").log_path == str(csv)
        assert len(store.scalars("a")) == 4 * 13
