"""Tests of the UN/EDIFACT messages."""
