"""The promotion audit trail: a signed, hash-chained log, and the questions it answers."""
