"""`.venv/bin/python bench/loadtest [options]` (or `python -m loadtest` from bench/)."""

import sys
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent
# Run as a folder, Python puts the folder itself first on sys.path, where its modules would be
# importable under bare names; the package and its sibling `throughput` live one level up.
if sys.path and Path(sys.path[0] or ".").resolve() == _PACKAGE:
    sys.path[0] = str(_PACKAGE.parent)
elif str(_PACKAGE.parent) not in sys.path:
    sys.path.insert(0, str(_PACKAGE.parent))

from loadtest.main import main  # noqa: E402 (needs the sys.path fix above)

sys.exit(main())
