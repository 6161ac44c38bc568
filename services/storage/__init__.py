"""The storage service: owns the bucket (object layout, idempotent create-only writes, versions of
changed invoices, manifests, reconciliation) over GCS or a local directory."""
