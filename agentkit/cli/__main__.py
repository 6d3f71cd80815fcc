"""``python -m agentkit.cli``."""

import sys

from agentkit.cli import main

sys.exit(main())
