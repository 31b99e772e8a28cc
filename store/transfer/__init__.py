"""Moving registries' contents: bundles out and in, and importers for other tools' files.
``bundle`` (with ``bundle_export``, ``bundle_plan``, ``bundle_format``) writes and reads modelreg's own bundles;
``importers`` turns foreign files into the same plan."""
