"""Record types. Each module or package here that defines ``SPEC`` (a
``polex.pipeline.spec.SchemaSpec``) is a registered schema; see docs/new-schema.md."""
