"""`python -m spen_keras` runs the `spen-keras` command line."""

import sys

from spen_keras.cli import main

sys.exit(main())
