"""`python -m pipepulse.loader`: run the reference loader or generate event files."""

import sys

from pipepulse.loader.cli import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
