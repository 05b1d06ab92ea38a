"""Where an export goes: every path inside the output folder, all or nothing.

A folder export is written into a hidden temporary sibling folder
(``.<name>.detview-partial-<pid>-<random>``) and renamed into place when every file
is on disk, so the folder exists under its name only when it is complete. Its last
file is the completion marker ``.detview-export.json``: the format and every file
written with its size (and SHA-256 for annotation files). :func:`check_export`
verifies it; ``detview check-export DIR`` prints what is wrong.

The target folder may be new, empty or a previous detview export (which is
replaced). A non-empty folder that is not a detview export, or one that holds the
inputs of this export, is refused unless ``overwrite``: then the files are moved
into it one by one, an input file written over is first kept as a numbered backup
(``<name>.bak.N``), and the marker is written last.

A single-file output (``--out gt.json``) is written atomically with the same rules.
Every file gets the mode the umask gives; nothing is written through a symbolic link.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import shutil
import stat
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from detview.core.dataset import Dataset

from ._common import Progress
from .atomic import atomic_write_bytes, copy_file_atomic, numbered_backup
from .errors import Cancelled, InputError
from .model import SourceFiles, file_digest
from .paths import Root, regular_file, safe_name

__all__ = ["MARKER", "Output", "check_export"]

MARKER = ".detview-export.json"
_PARTIAL = ".detview-partial-"
_OLD = ".detview-old-"


def _sha256(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def _clean_stale(parent: Path, name: str, log: logging.Logger) -> None:
    """Remove temporary folders left by exports to ``name`` that were killed."""
    prefix = f".{name}{_PARTIAL}"
    try:
        entries = list(os.scandir(parent))
    except OSError:
        return
    for e in entries:
        if not e.name.startswith(prefix) or not e.is_dir(follow_symlinks=False):
            continue
        pid_s = e.name[len(prefix):].split("-", 1)[0]
        if pid_s.isdigit() and _pid_alive(int(pid_s)):
            continue
        log.info("removing %s, left by an export that did not finish", e.path)
        shutil.rmtree(e.path, ignore_errors=True)


def _sync_tree(folder: Path) -> None:
    """Flush what was written under ``folder`` to disk before it is renamed."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        fd = os.open(folder, os.O_RDONLY)
        try:
            if libc.syncfs(fd) == 0:
                return
        finally:
            os.close(fd)
    except (OSError, AttributeError):
        pass
    if hasattr(os, "sync"):
        os.sync()


def _is_previous_export(folder: Path) -> bool:
    try:
        obj = json.loads((folder / MARKER).read_bytes())
    except (OSError, ValueError):
        return False
    return isinstance(obj, dict) and obj.get("detview_export") == 1


def _inside(child: Path, folder: Path) -> bool:
    try:
        c = child.resolve()
        f = folder.resolve()
    except OSError:
        return False
    return c == f or f in c.parents


class Output:
    """What writers write through. Use as a context manager: files are committed on a
    clean exit and the temporary folder is removed on an error or cancel."""

    def __init__(
        self,
        dataset: Dataset,
        target: Path,
        format_name: str,
        *,
        single_file: tuple[str, ...] = (),
        default_name: str = "",
        overwrite: bool = False,
        images_mode: str = "none",
        images_root: Path | None = None,
        options: dict[str, Any] | None = None,
        logger: logging.Logger | None = None,
        progress: Progress = None,
        protected: Iterable[Path] = (),
        marker: bool = True,
    ) -> None:
        if images_mode not in ("none", "copy", "link"):
            raise ValueError(f"images_mode must be 'none', 'copy' or 'link', got {images_mode!r}")
        self.dataset = dataset
        self.format = format_name
        self.options = dict(options or {})
        self.log = logger or logging.getLogger("detview.io")
        self.progress = progress
        self.images_mode = images_mode
        self.images_root = Path(images_root) if images_root is not None else None
        self.overwrite = overwrite
        self.protected = [Path(p) for p in protected]
        self.warnings: list[str] = []
        self.files: dict[str, dict[str, Any]] = {}
        self._unlisted: set[str] = set()
        self._marker = marker
        target = Path(target)
        if single_file and target.suffix.lower() in single_file:
            self.mode = "file"
            self.final = target.parent
            self.main_name = target.name
        else:
            self.mode = "folder"
            self.final = target
            self.main_name = default_name
        self.root = self.final  # where files go now (the staging folder for an export)
        self._staging: Path | None = None
        self._prepare()

    # ------------------------------------------------------------- set-up
    def _inputs_inside(self) -> bool:
        ds = self.dataset
        paths = [ds.meta.get("gt_path"), ds.meta.get("images_root"),
                 *(ds.meta.get("sources") or {}).values(), *self.protected]
        if self.images_root is not None:
            paths.append(str(self.images_root))
        return any(p and _inside(Path(p), self.final) for p in paths)

    def _prepare(self) -> None:
        if self.mode == "file":
            if self.final.exists() and not self.final.is_dir():
                raise InputError(self.final, "", "is a file; expected a folder for the output")
            return
        out = self.final
        if os.path.lexists(out) and not out.is_dir():
            raise InputError(out, "", "exists and is not a folder; choose a new output folder")
        if out.is_symlink():
            raise InputError(out, "", "is a symbolic link; give the real output folder")
        out.parent.mkdir(parents=True, exist_ok=True)
        _clean_stale(out.parent, out.name, self.log)
        nonempty = out.is_dir() and any(True for _ in os.scandir(out))
        self.replace_previous = False
        if nonempty:
            if _is_previous_export(out) and not self._inputs_inside():
                self.replace_previous = True
            elif not self.overwrite:
                why = ("it holds files this export reads" if self._inputs_inside() else
                       "it is not empty and is not a previous detview export")
                raise InputError(out, "", f"refusing to write into this folder: {why}; choose "
                                 "a new folder, or allow it with --overwrite (overwrite=True): "
                                 "input files written over are kept as numbered .bak files")
        self._merge = nonempty and not self.replace_previous
        self._staging = out.parent / f".{out.name}{_PARTIAL}{os.getpid()}-{secrets.token_hex(4)}"
        self._staging.mkdir()
        self.root = self._staging

    def __enter__(self) -> Output:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.abort()

    def abort(self) -> None:
        if self._staging is not None and self._staging.exists():
            shutil.rmtree(self._staging, ignore_errors=True)
        self._staging = None

    # ------------------------------------------------------------- helpers
    def tick(self, k: int, total: int, every: int = 64) -> None:
        if self.progress is not None and k % every == 0 and self.progress(k, total) is False:
            raise Cancelled("cancelled")

    def warn(self, message: str) -> None:
        self.warnings.append(message)
        self.log.warning("%s", message)

    def rel(self, name: str, where: str = "") -> str:
        """A relative output path, checked (never outside the output folder)."""
        return safe_name(name, "(output)", where)

    def path(self, rel: str) -> Path:
        return self.root / self.rel(rel)

    def _record(self, rel: str, data: bytes | None, size: int | None = None,
                image: bool = False) -> None:
        entry: dict[str, Any] = {"size": len(data) if data is not None else int(size or 0)}
        if data is not None and not image:
            entry["sha256"] = _sha256(data)
        self.files[rel] = entry

    def write(self, rel: str, data: bytes, *, listed: bool = True) -> None:
        """Write one file of the export (``rel`` is relative to the output folder);
        ``listed=False`` keeps it out of the completion marker (the corrections log,
        which checks itself: its header counts its records)."""
        rel = self.rel(rel)
        target = self.root / rel
        if self.mode == "file":
            if not Root(self.final).inside(target.parent / "x"):
                raise InputError(target, "", "the output folder leads outside itself through "
                                 "a symbolic link; not written")
            prot = [target] if any(_same_path(target, p) for p in self._protected_paths()) else []
            atomic_write_bytes(target, data, protected=prot, overwrite=self.overwrite)
        else:
            atomic_write_bytes(target, data, fsync=False)
        self._record(rel, data)
        if not listed:
            self._unlisted.add(rel)

    def main_file(self) -> str:
        return self.main_name

    # ------------------------------------------------------------- unchanged files
    def unchanged(self, i: int, fmt: str, options: tuple[Any, ...] = (),
                  same_vocabulary: bool = False) -> bytes | None:
        """The bytes image ``i`` was read from when its boxes, size and (for YOLO) class
        vocabulary are exactly as read and the file did not change since; else None."""
        sf: SourceFiles | None = self.dataset.meta.get("source_files")
        if sf is None or sf.format != fmt or sf.options != tuple(options):
            return None
        if i >= len(sf.rel) or sf.rel[i] is None or sf.digest[i] is None:
            return None
        ds = self.dataset
        names = tuple(ds.classes.names)
        if same_vocabulary and names[: len(sf.class_names)] != sf.class_names:
            return None
        if ds.images.widths[i] != sf.widths[i] or ds.images.heights[i] != sf.heights[i]:
            return None
        if not self.same_boxes(i):
            return None
        p = Path(sf.root) / str(sf.rel[i])
        try:
            if not regular_file(p) or not Root(sf.root).inside(p):
                return None
            data = p.read_bytes()
        except OSError:
            return None
        return data if file_digest(data) == sf.digest[i] else None

    def same_boxes(self, i: int) -> bool:
        sf: SourceFiles | None = self.dataset.meta.get("source_files")
        if sf is None:
            return False
        gt = self.dataset.gt
        sl = gt.image_slice(i)
        a = gt.alive[sl]
        ids = gt.box_id[sl][a]
        o0, o1 = int(sf.offsets[i]), int(sf.offsets[i + 1])
        if ids.shape[0] != o1 - o0 or not np.array_equal(ids, sf.box_id[o0:o1]):
            return False
        if not np.array_equal(gt.cls[sl][a], sf.cls[o0:o1]):
            return False
        if gt.extras:
            for b in ids.tolist():
                e = gt.extras.get(int(b))
                if e and e.get("_edited"):
                    return False
        return bool(np.array_equal(gt.xyxy[sl][a], sf.xyxy[o0:o1]))

    # ------------------------------------------------------------- images
    def copy_images(self, dest: str, names: Sequence[tuple[int, str]] | None = None) -> None:
        """Copy (or link) the kept images under ``dest`` (a folder in the output);
        ``names`` gives (image index, name under dest), default the file names."""
        if self.images_mode == "none":
            return
        ds = self.dataset
        if self.images_root is None:
            raise InputError("(images)", "", "the image folder is needed to copy or link images")
        src_root = Root(self.images_root)
        if names is None:
            names = [(int(i), ds.images.file_names[int(i)])
                     for i in np.flatnonzero(~ds.images.deleted).tolist()]
        seen: dict[str, str] = {}
        for k, (i, name) in enumerate(names):
            self.tick(k, len(names), 256)
            fn = ds.images.file_names[i]
            rel = self.rel(f"{dest}/{name}" if dest else name)
            if rel in seen:
                raise InputError(fn, "", f"two images would be written to {rel} ({seen[rel]} "
                                 "and this one); this format keeps one folder of images")
            seen[rel] = fn
            src = src_root.file(fn, "(images)", f"image {fn}")
            if not regular_file(src):
                raise InputError(src, "", "image file not found (cannot copy it)")
            if not _looks_like_image(src):
                raise InputError(src, "", "not an image file; not copied")
            dst = self.root / rel
            if self.mode == "file":
                if os.path.lexists(dst) and _same_file(src, dst):
                    continue
                if not Root(self.final).inside(dst.parent / "x"):
                    raise InputError(dst, "", "the output leads outside itself through a "
                                     "symbolic link; not written")
            dst.parent.mkdir(parents=True, exist_ok=True)
            if self.images_mode == "copy":
                tmp_dst = copy_file_atomic(src, dst)
                self._record(rel, None, tmp_dst.stat().st_size, image=True)
            else:
                if os.path.lexists(dst):
                    os.unlink(dst)
                try:
                    os.link(src, dst)
                except OSError:
                    os.symlink(os.path.realpath(src), dst)
                self._record(rel, None, os.stat(dst).st_size, image=True)

    # ------------------------------------------------------------- commit
    def _marker_bytes(self) -> bytes:
        body = {"detview_export": 1, "complete": True, "format": self.format,
                "files": {k: self.files[k] for k in sorted(self.files)
                          if k not in self._unlisted}}
        return (json.dumps(body, indent=1, sort_keys=True) + "\n").encode("utf-8")

    def commit(self) -> None:
        if self.mode == "file" or self._staging is None:
            return
        staging = self._staging
        out = self.final
        _sync_tree(staging)
        if not self._merge:
            if self._marker:
                atomic_write_bytes(staging / MARKER, self._marker_bytes())
            if self.replace_previous:
                old = out.parent / f".{out.name}{_OLD}{secrets.token_hex(4)}"
                os.rename(out, old)
                try:
                    os.rename(staging, out)
                except BaseException:
                    os.rename(old, out)  # the previous export stays as it was
                    raise
                shutil.rmtree(old, ignore_errors=True)
                self.log.info("replaced the previous export in %s", out)
            elif out.is_dir():
                os.replace(staging, out)  # an empty folder is replaced
            else:
                os.rename(staging, out)
            self._staging = None
            return
        # merge into an existing folder (overwrite=True): file by file, marker last
        oroot = Root(out)
        try:
            (out / MARKER).unlink()
        except FileNotFoundError:
            pass
        for rel in sorted(self.files):
            src = staging / rel
            dst = out / rel
            if not oroot.inside(dst.parent / "x"):
                raise InputError(dst, "", "the output folder leads outside itself through a "
                                 "symbolic link; not written")
            dst.parent.mkdir(parents=True, exist_ok=True)
            try:
                st = os.lstat(dst)
            except FileNotFoundError:
                st = None
            if st is not None:
                if stat.S_ISDIR(st.st_mode):
                    raise InputError(dst, "", "is a folder; cannot write a file there")
                if stat.S_ISREG(st.st_mode) and _same_bytes(src, dst):
                    os.unlink(src)  # already there, byte for byte: left untouched
                    continue
                if any(_same_path(dst, p) for p in self._protected_paths()):
                    numbered_backup(dst)
                if stat.S_ISREG(st.st_mode):
                    os.chmod(src, stat.S_IMODE(st.st_mode))
            os.replace(src, dst)
        if self._marker:
            atomic_write_bytes(out / MARKER, self._marker_bytes())
        shutil.rmtree(staging, ignore_errors=True)
        self._staging = None

    def _protected_paths(self) -> list[Path]:
        ds = self.dataset
        out = list(self.protected)
        for p in [ds.meta.get("gt_path"), *(ds.meta.get("sources") or {}).values()]:
            if p:
                out.append(Path(p))
        sf: SourceFiles | None = ds.meta.get("source_files")
        if sf is not None:
            out.append(Path(sf.root))
        return out

    @property
    def written(self) -> list[Path]:
        return [self.final / rel for rel in self.files]


def _same_path(target: Path, protected: Path) -> bool:
    """``target`` is the protected file or inside the protected folder."""
    try:
        t = target.resolve()
        p = protected.resolve()
    except OSError:
        return False
    return t == p or (p.is_dir() and p in t.parents)


def _same_bytes(a: Path, b: Path) -> bool:
    try:
        if os.path.getsize(a) != os.path.getsize(b):
            return False
        with open(a, "rb") as fa, open(b, "rb") as fb:
            while True:
                x, y = fa.read(1 << 20), fb.read(1 << 20)
                if x != y:
                    return False
                if not x:
                    return True
    except OSError:
        return False


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


_MAGIC = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a", b"BM", b"II*\x00",
          b"MM\x00*", b"P1", b"P2", b"P3", b"P4", b"P5", b"P6")


def _looks_like_image(p: Path) -> bool:
    """An image by its first bytes (JPEG, PNG, GIF, BMP, TIFF, WebP, PNM), else by what
    PIL recognises."""
    try:
        with open(p, "rb") as f:
            head = f.read(16)
    except OSError:
        return False
    if head.startswith(_MAGIC) or (head[:4] == b"RIFF" and head[8:12] == b"WEBP"):
        return True
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(p) as im:
            return bool(im.format)
    except (UnidentifiedImageError, OSError, ValueError):
        return False
    except Exception:  # noqa: BLE001 - a decoder bug is not an image
        return False


def check_export(folder: str | Path) -> list[str]:
    """What is wrong with an export folder (empty list: complete and intact)."""
    folder = Path(folder)
    m = folder / MARKER
    if not folder.is_dir():
        return [f"{folder}: not a folder"]
    if not m.is_file():
        return [f"{folder}: no {MARKER}: not a complete detview export (an export is renamed "
                "into place only when complete; this folder was made otherwise, or by an "
                "export into a non-empty folder that did not finish)"]
    try:
        obj = json.loads(m.read_bytes())
        files = obj["files"]
        assert obj.get("complete") is True and isinstance(files, dict)
    except (OSError, ValueError, KeyError, TypeError, AssertionError):
        return [f"{m}: unreadable completion marker"]
    problems: list[str] = []
    root = Root(folder)
    for rel, info in files.items():
        try:
            p = root.file(rel, m, rel)
        except InputError as exc:
            problems.append(str(exc))
            continue
        if not p.is_file():
            problems.append(f"{p}: missing")
            continue
        size = p.stat().st_size
        if size != info.get("size"):
            problems.append(f"{p}: {size} bytes, expected {info.get('size')}")
            continue
        if "sha256" in info and _sha256(p.read_bytes()) != info["sha256"]:
            problems.append(f"{p}: content differs from what was exported (SHA-256)")
    return problems
