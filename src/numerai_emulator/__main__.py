"""``python -m numerai_emulator serve …`` — same as the ``numerai-emulator`` script."""

import sys

from .cli import main

sys.exit(main())
