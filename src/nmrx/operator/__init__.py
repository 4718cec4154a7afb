"""The operator console: accounts, suspension, the audit trail, reserves (PRODUCT.md §13)."""
