"""The demo: trains real scikit-learn models into a folder, checkpoint by checkpoint.

``training`` holds the trainer behind ``modelreg demo`` and ``populate`` for scripts and tests.
"""
