"""``python -m mfcore`` is the ``mfcore`` command."""
import sys

from .cli import main

sys.exit(main())
