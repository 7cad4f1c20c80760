"""``python -m mfcore.exercises`` (the same as ``mfcore exercises``)."""
import sys

from ._cli import main

sys.exit(main())
