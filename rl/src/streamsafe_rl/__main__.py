"""``python -m streamsafe_rl``: see streamsafe_rl.cli."""

import sys

from streamsafe_rl.cli import main

sys.exit(main())
