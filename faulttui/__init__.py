"""faulttui: see which lock a page fault's retry takes, and what if it took another."""

__version__ = "0.1.0"
