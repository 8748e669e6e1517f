"""Import every capability's models so the metadata is complete (migrations, create_all)."""

from __future__ import annotations


def import_all_models() -> None:
    from .audit import models as audit_models  # noqa: F401
    from .decisions import models as decision_models  # noqa: F401
    from .identity import models as identity_models  # noqa: F401
    from .identity.oauth import models as oauth_models  # noqa: F401
    from .jobs import models as job_models  # noqa: F401
    from .lending.applications import models as application_models  # noqa: F401
    from .lending.classification import models as classification_models  # noqa: F401
    from .lending.cob import models as cob_models  # noqa: F401
    from .lending.collections import models as collection_models  # noqa: F401
    from .lending.contracts import models as contract_models  # noqa: F401
    from .lending.customers import models as customer_models  # noqa: F401
    from .lending.disbursement import models as disbursement_models  # noqa: F401
    from .lending.investigation import models as investigation_models  # noqa: F401
    from .lending.ledger import models as ledger_models  # noqa: F401
    from .lending.loans import models as loan_models  # noqa: F401
    from .lending.products import models as product_models  # noqa: F401
    from .plugins import feeds as plugin_feeds, models as plugin_models  # noqa: F401
    from .privacy import models as privacy_models  # noqa: F401
    from .reporting import models as reporting_models  # noqa: F401
    from .talent import models as talent_models  # noqa: F401
    from .talent.risk360 import models as risk360_models  # noqa: F401
    from .tenancy import models  # noqa: F401
