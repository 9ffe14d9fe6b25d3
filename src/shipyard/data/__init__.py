"""Loading, checking and splitting tabular data."""
