"""The register of traders and brokers (EORI-like ids) and the mandates brokers act under."""
