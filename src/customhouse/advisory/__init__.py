"""Traders' advisory: a landed-cost estimate for hypothetical goods, with no declaration needed."""
