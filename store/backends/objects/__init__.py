"""Artifacts on object storage (``s3://``, ``gs://``, ``az://``) through fsspec, an optional extra.

``urls`` checks URLs and opens filesystems, ``cache`` keeps verified downloads, ``remote`` is the store.
"""
