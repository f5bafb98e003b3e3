"""Sums integers in C: a stand-in for any package with a compiled extension."""
from ._native import total

__version__ = "1.0.0"
__all__ = ["total"]
