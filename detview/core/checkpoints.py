"""Checkpoints of one training, recognised from run names and prediction file names.

A prediction run is a checkpoint when its step is known:

1. the run's name says it: ``NAME@STEP`` (``--pred yolo@400=preds.json``; ``STEP`` may
   also read ``epoch12``, ``e12``, ``step400``, ``iter4000``);
2. its file or folder name says it with a keyword: ``preds_step400.json``,
   ``epoch_12/preds.json``, ``checkpoint-400``, ``iter_4000.json``, ``model_0004999``,
   ``ep3.json`` (``epoch``/``ep``/``e`` give unit ``"epoch"``, the others ``"step"``);
3. two or more names differ only by one number standing alone between separators
   (``preds_400.json``, ``preds_800.json``); a number inside a word (``yolov5s``) is
   never a step.

:func:`group_checkpoints` groups the runs of one training (same name once the step is
taken out, same unit) into :class:`Training` records with their steps in order; the
checkpoint slider moves along ``Training.steps``. Pure string work: nothing is read
from disk.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["CheckpointName", "Training", "group_checkpoints", "parse_checkpoint"]

_KEYWORDS = r"global_step|steps?|iterations?|iters?|epochs?|ep|ckpt|checkpoint|model"
_AT_KEYWORDS = _KEYWORDS + r"|it|e"
_KEYWORD_NUM = re.compile(rf"(?<![A-Za-z0-9])({_KEYWORDS})[_\-]?(\d{{1,12}})(?![0-9])",
                          re.IGNORECASE)
_BARE_NUM = re.compile(r"(?<![A-Za-z0-9.])(\d{1,12})(?![A-Za-z0-9])")
_AT_STEP = re.compile(rf"^(.+)@(?:({_AT_KEYWORDS})[_\-]?)?(\d{{1,12}})$", re.IGNORECASE)
_EXT = re.compile(r"\.(json|txt|csv|jsonl|xml|pkl|pt|pth|npz|parquet)$", re.IGNORECASE)


@dataclass(frozen=True)
class CheckpointName:
    """What a run's name or path says about it as a checkpoint."""

    run: str  # the run's name
    training: str  # the training it belongs to (the name with the step taken out)
    step: int
    unit: str  # "step" or "epoch"


@dataclass(frozen=True)
class Training:
    """The checkpoints of one training, ordered by step."""

    name: str
    unit: str
    steps: tuple[int, ...]
    runs: tuple[str, ...]  # run names, in step order

    def run_at(self, step: int) -> str:
        """The run of the checkpoint at ``step`` (KeyError when there is none)."""
        try:
            return self.runs[self.steps.index(step)]
        except ValueError:
            raise KeyError(step) from None

    def nearest(self, step: float) -> str:
        """The run of the checkpoint closest to ``step`` (ties: the earlier one)."""
        k = min(range(len(self.steps)), key=lambda i: (abs(self.steps[i] - step), i))
        return self.runs[k]

    def step_of(self, run: str) -> int:
        return self.steps[self.runs.index(run)]


def _unit(keyword: str | None) -> str:
    return "epoch" if keyword and keyword.lower() in ("epoch", "epochs", "ep", "e") else "step"


def _parts(path: str) -> list[str]:
    p = [x for x in re.split(r"[\\/]+", path) if x and x != "."]
    if p:
        p[-1] = _EXT.sub("", p[-1])
    return p


def _clean(s: str) -> str:
    s = re.sub(r"[_\-.\s]{2,}", lambda m: m.group(0)[0], s)
    return s.strip("_-. ")


def _keyword(text: str) -> re.Match[str] | None:
    found = [k for k in _KEYWORD_NUM.finditer(text)
             # "model_3" is a name; detectron2 writes model_0004999
             if k.group(1).lower() != "model" or k.group(2).startswith("0")]
    return found[-1] if found else None


def parse_checkpoint(run: str, path: str | None = None) -> CheckpointName | None:
    """The step of one run from its name (``NAME@STEP``) or a keyword in its name or
    path; None when neither says. A bare number alone is not enough here (see
    :func:`group_checkpoints`)."""
    m = _AT_STEP.match(run)
    if m:
        return CheckpointName(run, m.group(1), int(m.group(3)), _unit(m.group(2)))
    k = _keyword(run)
    if k is not None:
        rest = _clean(run[: k.start()] + run[k.end():])
        if rest or not path:
            return CheckpointName(run, rest or k.group(1), int(k.group(2)), _unit(k.group(1)))
    parts = _parts(path) if path else []
    for i in range(len(parts) - 1, max(len(parts) - 4, -1), -1):
        k = _keyword(parts[i])
        if k is None:
            continue
        rest = _clean(parts[i][: k.start()] + parts[i][k.end():])
        above = parts[i - 1] if i > 0 else ""
        if i == len(parts) - 1:  # in the file name
            training = rest or above or k.group(1)
        else:  # in a folder: the folder above, what is left of this one, the file
            training = "/".join(x for x in (above, rest, parts[-1]) if x)
        return CheckpointName(run, training, int(k.group(2)), _unit(k.group(1)))
    return None


def _bare_candidates(run: str, path: str | None) -> list[tuple[str, int]]:
    """``(pattern with the number taken out, number)`` for each lone number in the name
    or the path's last two parts."""
    texts = [run] + (["/".join(_parts(path)[-2:])] if path else [])
    out = []
    for text in texts:
        for m in _BARE_NUM.finditer(text):
            out.append((text[: m.start()] + "\0" + text[m.end():], int(m.group(1))))
    return out


def group_checkpoints(runs: Sequence[tuple[str, str | None]]
                      ) -> tuple[list[Training], list[str]]:
    """Group runs ``(name, path or None)`` into trainings.

    Returns the trainings (in the order their first run was given) and the names of the
    runs that are not checkpoints. A training from ``NAME@STEP`` or a keyword may hold a
    single checkpoint; one guessed from bare numbers needs two or more. A second run at
    a step its training already has stays a plain run.
    """
    groups: dict[tuple[str, str], list[tuple[int, str]]] = {}
    order: list[tuple[str, str]] = []
    plain: list[tuple[str, str | None]] = []
    for name, path in runs:
        c = parse_checkpoint(name, path)
        if c is None:
            plain.append((name, path))
            continue
        key = (c.training, c.unit)
        if key not in groups:
            groups[key] = []
            order.append(key)
        groups[key].append((c.step, name))
    # bare numbers: a pattern shared by two or more runs
    by_pattern: dict[str, list[tuple[int, str]]] = {}
    pattern_order: list[str] = []
    for name, path in plain:
        seen_patterns: set[str] = set()
        for pat, num in _bare_candidates(name, path):
            if pat in seen_patterns:  # the name and the path may say the same
                continue
            seen_patterns.add(pat)
            if pat not in by_pattern:
                by_pattern[pat] = []
                pattern_order.append(pat)
            by_pattern[pat].append((num, name))
    taken: set[str] = set()
    bare_groups: list[tuple[str, list[tuple[int, str]]]] = []
    for pat in pattern_order:
        members = [(s, n) for s, n in by_pattern[pat] if n not in taken]
        if len({n for _, n in members}) >= 2:
            bare_groups.append((pat, members))
            taken.update(n for _, n in members)
    trainings: list[Training] = []
    leftover: list[str] = []

    def build(name: str, unit: str, members: list[tuple[int, str]]) -> None:
        seen: dict[int, str] = {}
        for step, run in members:
            if step in seen:
                leftover.append(run)
            else:
                seen[step] = run
        steps = tuple(sorted(seen))
        trainings.append(Training(name, unit, steps, tuple(seen[s] for s in steps)))

    for key in order:
        build(key[0], key[1], groups[key])
    for pat, members in bare_groups:
        name = _clean(pat.split("/")[-1].replace("\0", "")) or _clean(pat.replace("\0", ""))
        build(name or "checkpoints", "step", members)
    leftover.extend(n for n, _ in plain if n not in taken)
    return trainings, leftover
