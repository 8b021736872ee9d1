"""Import every ORM module so ``Base.metadata`` knows all tables (for Alembic)."""

from fleetkey.audit import models as audit_models  # noqa: F401
from fleetkey.authenticators import models as authenticator_models  # noqa: F401
from fleetkey.channels import models as channel_models  # noqa: F401
from fleetkey.db.base import Base
from fleetkey.devices import models as device_models  # noqa: F401
from fleetkey.inventory import models as inventory_models  # noqa: F401
from fleetkey.keys import device_ca  # noqa: F401
from fleetkey.keys import models as key_models  # noqa: F401
from fleetkey.providers import models as provider_models  # noqa: F401
from fleetkey.tenants import models as tenant_models  # noqa: F401
from fleetkey.things import models as thing_models  # noqa: F401

metadata = Base.metadata
