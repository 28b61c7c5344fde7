"""`python -m driftline.flows`: the driftline command line."""

import sys

from driftline.flows.app.cli import main

sys.exit(main())
