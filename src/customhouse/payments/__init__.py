"""Payments: payment orders paid online through a gateway port (`gateway`; the built-in `demo` gateway
serves its own page and calls back a signed webhook), idempotency keys, guarantees and deferment
accounts, signed receipts (`receipts`), reconciliation, and the `customhouse payments` commands."""
