"""The transparency log: RFC 9162 proofs (`merkle`), C2SP tiles (`tiles`), signed checkpoints (`note`)."""
