"""Loaded by an example started as ``python example.py`` (the spawn runner).

The runner puts this directory on PYTHONPATH and names a report file in
HANDBOOK_LEAK_REPORT.  Both variables are removed at once, so processes the
example starts itself run exactly as they would for a reader, and so is this
directory from sys.path, so the example sees the sys.path a reader's would
have (and the fork server's examples have).
"""

import os
import sys

_report_path = os.environ.pop("HANDBOOK_LEAK_REPORT", None)
_original_path = os.environ.pop("HANDBOOK_ORIGINAL_PYTHONPATH", None)
if _original_path is not None:
    if _original_path:
        os.environ["PYTHONPATH"] = _original_path
    else:
        os.environ.pop("PYTHONPATH", None)
if _report_path:
    import handbook_exit_report

    handbook_exit_report.install(_report_path)
_here = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [entry for entry in sys.path if os.path.abspath(entry or ".") != _here]
del _here
