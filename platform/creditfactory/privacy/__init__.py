"""Personal data (个人信息) protection: identifiers, envelope encryption per tenant, masking, audited reveals.

Import the modules themselves (``privacy.fields``, ``privacy.access``): this package stays empty so the logging
set-up can use ``privacy.logs`` without pulling in the database and identity layers.
"""
