"""The local backend: a TinyDB snapshot plus an fsynced journal in the registry's directory.

Also what only makes sense for files on this machine: finding the directory, watching it, and doctor.
"""
