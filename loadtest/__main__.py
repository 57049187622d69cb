"""``python -m loadtest`` → ``loadtest.cli.main()``."""

import sys

from loadtest.cli import main

sys.exit(main())
