"""Demo data: a reproducible administration with traders, brokers and a year of declarations."""
