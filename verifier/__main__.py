import sys

from verifier.interfaces.cli import main

sys.exit(main())
