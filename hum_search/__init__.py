"""hum-search: find a song in your music collection by humming it.

Importing this package is cheap and has no side effects: no model is loaded, nothing touches the
network or the disk. Heavy modules (torch, PyAV, elasticsearch, streamlit) are imported lazily by the
code paths that need them.
"""

__version__ = "0.1.0"
