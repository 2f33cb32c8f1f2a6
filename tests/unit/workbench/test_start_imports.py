"""A workbench process does not load openpyxl (and the numpy and lxml it brings, ~15 MB) until
somebody exports a sheet."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def test_openpyxl_is_imported_by_the_first_export_only():
    code = ("import sys, services.workbench.bootstrap as b;"
            "from services.workbench.application.export import to_xlsx;"
            "print(sorted(m for m in ('openpyxl', 'numpy', 'lxml') if m in sys.modules));"
            "data = to_xlsx([]);"
            "print('openpyxl' in sys.modules, data[:2] == b'PK')")
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'proto'}",
           "MINSHENG_ENVIRONMENT": "development"}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True,
                         capture_output=True, text=True).stdout.split("\n")
    assert out[0] == "[]"
    assert out[1] == "True True"
