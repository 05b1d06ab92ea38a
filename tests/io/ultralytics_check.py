"""Run Ultralytics' own ``check_det_dataset`` on a data.yaml and print what it resolved.

Usage: ``python ultralytics_check.py DATA_YAML`` (prints one JSON line). Ultralytics is
not a dependency of detview: this runs only where it is installed (``pip install
--no-deps ultralytics``). Its dataset check reads YAML and paths only, so torch, cv2 and
the other heavy modules it imports at the top are replaced by stubs, and the packages
``ultralytics.nn`` / ``ultralytics.data`` are entered without their ``__init__``
(which build models and datasets); ``check_class_names`` is Ultralytics' own function,
taken from its source. Fonts are not downloaded.
"""

from __future__ import annotations

import ast
import importlib.abc
import importlib.machinery
import importlib.metadata
import importlib.util
import json
import sys
import types
from pathlib import Path
from unittest import mock

HEAVY = ("torch", "torchvision", "cv2", "matplotlib", "scipy", "polars", "psutil",
         "requests", "ultralytics_thop", "tqdm")


class _Stubs(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] in HEAVY:
            return importlib.machinery.ModuleSpec(name, self, is_package=True)
        return None

    def create_module(self, spec):
        m = mock.MagicMock(name=spec.name)
        m.__path__ = []
        m.__spec__ = spec
        m.__version__ = "2.5.0"
        if spec.name == "torch":
            m.jit.TracerWarning = type("TracerWarning", (Warning,), {})
        return m

    def exec_module(self, module):
        pass


def main(yaml_path: str) -> None:
    sys.meta_path.insert(0, _Stubs())
    real_version = importlib.metadata.version
    importlib.metadata.version = lambda n: "0.20.0" if n in ("torch", "torchvision") \
        else real_version(n)
    root = Path(importlib.util.find_spec("ultralytics").origin).parent
    src = (root / "nn" / "autobackend.py").read_text()
    fn = next(n for n in ast.parse(src).body
              if isinstance(n, ast.FunctionDef) and n.name == "check_class_names")
    ab = types.ModuleType("ultralytics.nn.autobackend")
    exec(compile(ast.Module([fn], []), "autobackend.py", "exec"), ab.__dict__)
    nn = types.ModuleType("ultralytics.nn")
    nn.__path__ = []
    data = types.ModuleType("ultralytics.data")
    data.__path__ = [str(root / "data")]
    sys.modules.update({"ultralytics.nn": nn, "ultralytics.nn.autobackend": ab,
                        "ultralytics.data": data})
    import ultralytics.data.utils as u

    u.check_font = lambda *a, **k: None
    d = u.check_det_dataset(yaml_path, autodownload=False)
    print(json.dumps({k: d.get(k) for k in ("train", "val", "test", "nc")}, default=str))


if __name__ == "__main__":
    main(sys.argv[1])
