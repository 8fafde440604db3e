"""CLI: ``python -m tools.train [--time-budget MIN] [--export PATH] ...``."""

from tools.train.train import main

raise SystemExit(main())
