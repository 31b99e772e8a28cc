"""Backends: where a registry's documents and artifacts are kept, behind one small protocol.

``protocol`` says what a backend must do; ``local`` is the journal on disk that modelreg has always used.
"""
