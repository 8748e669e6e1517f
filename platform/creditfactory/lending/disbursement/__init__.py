"""Disbursement and payment control (DOMAIN §2.4): entrusted / self payment, payment adapters, settlement."""
