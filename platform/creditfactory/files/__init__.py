"""Files (文件存储): content-addressed blobs per tenant in a pluggable store (local directory or S3-compatible).

Use ``creditfactory.files.store.file_store()`` for the configured store; see docs/customers.md#file-store.
"""
