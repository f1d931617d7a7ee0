"""Every domain's tables, imported in one place for Alembic and for tests that create the schema."""

from customhouse.analytics import models as analytics_models
from customhouse.assessment import models as assessment_models
from customhouse.auth import models as auth_models
from customhouse.certificates import models as certificate_models
from customhouse.db import Base
from customhouse.declarations import models as declaration_models
from customhouse.events import Event, OutboxEntry
from customhouse.exchange import models as exchange_models
from customhouse.exchange.edifact import models as edifact_models
from customhouse.ledger import models as ledger_models
from customhouse.parties import models as party_models
from customhouse.payments import models as payment_models
from customhouse.risk import models as risk_models
from customhouse.tariff import models as tariff_models
from customhouse.tracking import models as tracking_models
from customhouse.web import models as web_models

metadata = Base.metadata

__all__ = [
    "Event",
    "OutboxEntry",
    "analytics_models",
    "assessment_models",
    "auth_models",
    "certificate_models",
    "declaration_models",
    "edifact_models",
    "exchange_models",
    "ledger_models",
    "metadata",
    "party_models",
    "payment_models",
    "risk_models",
    "tariff_models",
    "tracking_models",
    "web_models",
]
