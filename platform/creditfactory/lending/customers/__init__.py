"""Customers (客户): individual business owners, households and micro enterprises, with KYC and consents."""
