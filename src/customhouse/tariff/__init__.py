"""The tariff in force: duty formulas (`measures`), measure selection (`selection`), the file format
(`schemas`), storage and quota allocation (`models`, `service`), and the `customhouse tariff` commands."""
