"""The demo: trains real scikit-learn models into a folder, checkpoint by checkpoint.

``training`` is the trainer behind ``modelreg demo`` and ``populate``; ``planning`` decides what it trains.
"""
