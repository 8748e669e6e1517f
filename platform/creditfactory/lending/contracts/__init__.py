"""E-contracts (DOMAIN §2.3): templates per product rendered to PDF, parties, signatures, face-signing records."""
