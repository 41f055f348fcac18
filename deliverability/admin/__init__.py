"""The support admin (issue 4): every module registers its part on Django's admin site.

Add a module to this list to register it (e.g. `api_keys`, `requests`).
"""

from deliverability.admin import (  # noqa: F401 - imported for their registrations
    api_keys,
    audit,
    erasure,
    events,
    incidents,
    requests,
    schools,
    site,
    suppressions,
    timeline,
)
