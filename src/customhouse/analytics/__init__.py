"""Analytics: a read model of declarations fed by domain events, and the aggregates the dashboards show."""
