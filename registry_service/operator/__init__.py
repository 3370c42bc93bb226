"""The `registry` operator CLI: commands over RegistryClient, MLflow migration, export/import."""
