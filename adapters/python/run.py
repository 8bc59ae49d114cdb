"""The example unified client behind the wschaos adapter protocol:
    python adapters/python/run.py
runs ``unified`` for each ``client`` command that names it. A team's own adapter is the same few lines
around its manager. Needs the ``websockets`` package (``tests/clients/setup.sh`` installs it, pinned).
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from wschaos_examples.unified import UnifiedClient  # noqa: E402
from wschaos_adapter import run_adapter  # noqa: E402


def unified(options):
    return UnifiedClient(options["url"], local_address=options["local_address"], time_unit=options["time_unit"])


if __name__ == "__main__":
    run_adapter({"unified": unified}, name="wschaos-python-examples 0.1.0")
