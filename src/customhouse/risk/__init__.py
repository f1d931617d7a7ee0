"""Risk management: entity-history features, the learned risk model and its evaluation on historical data."""
