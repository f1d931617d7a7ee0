"""Duty assessment: customs valuation and currency conversion (pure), later the assessment itself.

`currency` converts at the ECB reference rate of a date from the bundled history (offline);
`valuation` computes the customs value of each goods item by transaction value, CIF at the border.
Neither touches the database or the settings: the service passes the date, currency and rounding.
"""
