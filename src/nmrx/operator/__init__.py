"""The operator console: accounts, suspension, the audit trail, reserves (market-rules §13)."""
