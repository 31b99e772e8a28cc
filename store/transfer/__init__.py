"""Moving registries' contents: bundles out and in, and importers for other tools' files.
``bundle`` (with ``bundle_export``, ``bundle_plan``, ``bundle_format``) writes and reads modelreg's own bundles;
``importers`` (``afs_import``, ``experiments_import``, ``foreign_fields``) turns foreign files into the same plan."""
