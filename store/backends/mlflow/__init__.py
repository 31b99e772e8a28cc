"""The MLflow backend: a registry's documents on an MLflow tracking server, over its REST API."""
