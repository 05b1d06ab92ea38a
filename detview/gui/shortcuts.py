"""Every keyboard shortcut in one table: the main window makes its actions from it and
Help > Keyboard shortcuts lists it."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["MOUSE_AND_PANE_KEYS", "SHORTCUTS", "Shortcut", "by_name", "markdown_table", "rows"]


@dataclass(frozen=True)
class Shortcut:
    name: str
    keys: tuple[str, ...]
    text: str
    group: str


SHORTCUTS: tuple[Shortcut, ...] = (
    # files
    Shortcut("open", ("Ctrl+O",), "Open a dataset…", "File"),
    Shortcut("export", ("Ctrl+E",), "Export the corrected dataset…", "File"),
    Shortcut("quit", ("Ctrl+Q",), "Quit", "File"),
    # navigation
    Shortcut("next_image", ("PgDown",), "Next image in the list", "Navigate"),
    Shortcut("prev_image", ("PgUp",), "Previous image in the list", "Navigate"),
    Shortcut("first_image", ("Ctrl+Home",), "First image in the list", "Navigate"),
    Shortcut("filter", ("Ctrl+F",), "Filter the image list (file name, #tag, reviewed, deleted)",
             "Navigate"),
    Shortcut("sort_iou", ("Ctrl+1",), "Sort the image list by lowest mean IoU first",
             "Navigate"),
    Shortcut("sort_fn", ("Ctrl+2",), "Sort the image list by most missed boxes (FN) first",
             "Navigate"),
    Shortcut("sort_fp", ("Ctrl+3",), "Sort the image list by most false positives (FP) first",
             "Navigate"),
    Shortcut("fit", ("F", "Home"), "Fit the image in the view", "Navigate"),
    Shortcut("zoom_selection", ("Z",), "Zoom to the selected boxes (small ones get room "
             "around them)", "Navigate"),
    Shortcut("next_box", ("Tab",), "Select the next ground-truth box (reading order)",
             "Navigate"),
    Shortcut("prev_box", ("Shift+Tab",), "Select the previous ground-truth box", "Navigate"),
    Shortcut("next_pred", ("P",), "Select the next prediction (false positives first), "
             "then A accepts it", "Navigate"),
    Shortcut("prev_pred", ("Shift+P",), "Select the previous prediction", "Navigate"),
    Shortcut("escape", ("Esc",), "Cancel drawing / clear the selection", "Navigate"),
    Shortcut("toggle_labels", ("H",), "Show/hide box labels", "Navigate"),
    Shortcut("next_unreviewed", ("U",), "Next image not reviewed yet (in list order)",
             "Navigate"),
    # the viewer's display (nothing here changes data)
    Shortcut("overlay", ("O",), "Overlay: ground truth and predictions in one pane / side by "
             "side", "View"),
    Shortcut("three_panes", ("3",), "Three panes: ground truth, run A, run B (again: two)",
             "View"),
    Shortcut("classes", ("Shift+H",), "Show/hide classes, choose their colours and own score "
             "thresholds…", "View"),
    Shortcut("brighter", ("B",), "Brighter image (display only)", "View"),
    Shortcut("darker", ("Shift+B",), "Darker image (display only)", "View"),
    Shortcut("more_contrast", ("K",), "More contrast (display only)", "View"),
    Shortcut("less_contrast", ("Shift+K",), "Less contrast (display only)", "View"),
    Shortcut("reset_image", ("Ctrl+Shift+B",), "Reset brightness and contrast", "View"),
    Shortcut("lq_hints", ("Ctrl+Shift+L",), "Label-quality hints on the ground truth "
             "(predictions from a model that did not train on these images)", "View"),
    Shortcut("lq_next", ("J",), "Select the next box with a label-quality hint", "View"),
    Shortcut("lq_prev", ("Shift+J",), "Select the previous box with a label-quality hint",
             "View"),
    # box edits
    Shortcut("delete_box", ("Del", "Backspace"), "Delete the selected ground-truth boxes",
             "Edit boxes"),
    Shortcut("relabel", ("C", "L"), "Change the class of the selected boxes (type, Enter)",
             "Edit boxes"),
    Shortcut("draw", ("N", "D"), "Draw a new box (drag, then pick its class)", "Edit boxes"),
    Shortcut("duplicate", ("Ctrl+D",), "Duplicate the selected boxes", "Edit boxes"),
    Shortcut("accept", ("A",), "Accept the selected prediction(s) as ground truth",
             "Edit boxes"),
    Shortcut("replace", ("R",),
             "Replace the selected GT box by its matched (or best-overlapping) prediction",
             "Edit boxes"),
    Shortcut("lq_apply", ("Y",), "Apply the label-quality suggestion: relabel to the likely "
             "class, snap onto the prediction, or accept the likely missing label", "Edit boxes"),
    Shortcut("select_all", ("Ctrl+A",), "Select all ground-truth boxes of the image",
             "Edit boxes"),
    Shortcut("attributes", ("I",), "Attributes of the selected boxes: crowd, difficult, "
             "truncated, occluded", "Edit boxes"),
    Shortcut("rename_class", ("F2",), "Rename a class, or merge it into another, in the "
             "whole dataset", "Edit boxes"),
    # images
    Shortcut("delete_image", ("Ctrl+Del",), "Delete / restore the whole image", "Edit images"),
    Shortcut("reviewed", ("Space", "V"), "Mark the image reviewed / not reviewed (and on to "
             "the next unreviewed)", "Edit images"),
    Shortcut("tags", ("T",), "Edit the image's tags", "Edit images"),
    # history
    Shortcut("undo", ("Ctrl+Z",), "Undo", "History"),
    Shortcut("redo", ("Ctrl+Shift+Z", "Ctrl+Y"), "Redo", "History"),
    # runs, checkpoints and training logs
    Shortcut("open_log", ("Ctrl+L",), "Open a training log…", "Runs"),
    Shortcut("graphs", ("Ctrl+G",), "Training graphs and run details", "Runs"),
    Shortcut("runs_window", ("Ctrl+R",), "Runs window: every run of the experiment store",
             "Runs"),
    Shortcut("next_checkpoint", ("Ctrl+]",), "Next checkpoint (the slider in Compare)", "Runs"),
    Shortcut("prev_checkpoint", ("Ctrl+[",), "Previous checkpoint", "Runs"),
    Shortcut("help", ("F1",), "This list of shortcuts", "Help"),
)

# Handled by the focused widget itself (not window actions), listed for Help and README.
MOUSE_AND_PANE_KEYS: tuple[tuple[str, str, str], ...] = (
    ("Viewer", "Arrows", "Nudge the selected boxes by 1 px (no box selected: Up/Down change "
     "image)"),
    ("Viewer", "Shift+Arrows", "Nudge the selected boxes by 10 px"),
    ("Viewer", "Click", "Select a box (any pane); a click on a label selects that label's "
     "box"),
    ("Viewer", "Shift/Ctrl+click", "Add / remove a box from the selection"),
    ("Viewer", "Shift/Ctrl+drag", "Rubber-band selection"),
    ("Viewer", "Drag a selected box / its handle", "Move / resize the selected ground-truth "
     "box"),
    ("Viewer", "Drag empty space or an unselected box", "Pan (every pane follows)"),
    ("Viewer", "Wheel", "Zoom (every pane follows)"),
    ("Image list", "Up / Down", "Previous / next image"),
    ("Image list", "Tab / Enter / Esc", "In the filter box: back to the image list (every "
     "other key types into the filter)"),
    ("Objects grid", "Click", "Open the crop's image with its box selected"),
    ("Objects grid", "Ctrl/Shift+click / Ctrl+A", "Select many crops / all of them"),
    ("Objects grid", "Del / Backspace", "Delete the selected ground-truth boxes (one undo "
     "step)"),
    ("Objects grid", "R", "Relabel the selected ground-truth boxes…"),
    ("Objects grid", "A", "Accept: predictions become ground truth, a suspected swap takes "
     "its likely class, other boxes mark their images reviewed"),
    ("Objects grid", "Return / Enter", "Open the current crop's image"),
)


def rows() -> list[tuple[str, str, str]]:
    """(group, keys, action) of every shortcut, as Help > Keyboard shortcuts lists them."""
    return [(s.group, " / ".join(s.keys), s.text) for s in SHORTCUTS] + list(
        MOUSE_AND_PANE_KEYS)


def markdown_table() -> str:
    """The README's table (kept equal to :func:`rows` by a test)."""
    lines = ["| group | keys | action |", "|---|---|---|"]
    for g, k, t in rows():
        lines.append(f"| {g} | `{k}` | {t} |")
    return "\n".join(lines) + "\n"


def by_name(name: str) -> Shortcut:
    for s in SHORTCUTS:
        if s.name == name:
            return s
    raise KeyError(name)
