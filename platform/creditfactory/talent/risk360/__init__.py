"""Employee 360 risk view (员工360视图, DOMAIN §5.4): indicators, hits with evidence, scores per period."""
