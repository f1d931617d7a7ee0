"""Exchange with partner administrations and agencies: registry and agreements, signed messages
(JWS, Ed25519) delivered through an outbox and processed once, disclosures, pre-arrival matching,
and scoped access for agencies (see service.py and agencies.py)."""
