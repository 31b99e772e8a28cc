"""Moving registries' contents: bundles out and in, and importers for other tools' files.

``bundle`` writes and reads modelreg's own bundles; ``importers`` turns foreign files into the same plan.
"""
