"""A tiny app that needs a compiled extension at run time."""
import sys

import fastsum

numbers = [int(a) for a in sys.argv[1:]] or list(range(1, 101))
print(f"fastsum {fastsum.__version__}: sum={fastsum.total(numbers)}")
