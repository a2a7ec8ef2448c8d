"""The agent portal and supervisor console's services: what the portal renders (generated
from the tenant's deployed config), agent actions (transfer, outbound messages) and
supervisor actions (wallboard, takeover, reassign, escalation). The JSON API over them is in
``kefu.platform.api.portal`` and ``kefu.platform.api.supervisor``."""
