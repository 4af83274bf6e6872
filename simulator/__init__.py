"""A stand-in for the Alpha/Beta/Gamma data pipeline that the console operates.

It runs three modules as HTTP services, moves records through them, and lets faults from
the manuals be switched on. The console reaches it only over HTTP, never by import.
"""

__version__ = "1.0.0"
