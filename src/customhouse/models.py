"""Every domain's tables, imported in one place for Alembic and for tests that create the schema."""

from customhouse.assessment import models as assessment_models
from customhouse.auth import models as auth_models
from customhouse.certificates import models as certificate_models
from customhouse.db import Base
from customhouse.declarations import models as declaration_models
from customhouse.events import Event, OutboxEntry
from customhouse.ledger import models as ledger_models
from customhouse.parties import models as party_models
from customhouse.payments import models as payment_models
from customhouse.risk import models as risk_models
from customhouse.tariff import models as tariff_models

metadata = Base.metadata

__all__ = [
    "Event",
    "OutboxEntry",
    "assessment_models",
    "auth_models",
    "certificate_models",
    "declaration_models",
    "ledger_models",
    "metadata",
    "party_models",
    "payment_models",
    "risk_models",
    "tariff_models",
]
