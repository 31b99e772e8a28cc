"""modelreg's terminal face: the Textual app and the ``modelreg`` command line."""
