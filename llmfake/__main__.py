"""``python -m llmfake``: the command line."""

import sys

from llmfake.cli import main

sys.exit(main())
