"""Loan products (贷款产品): head-office templates adopted, and tightened, by each village bank."""
