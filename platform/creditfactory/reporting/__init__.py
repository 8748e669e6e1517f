"""Head-office reporting: KPI snapshots per tenant (aggregates only, in ``cf_shared``) and tenant capital."""
