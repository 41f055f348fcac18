"""Probes for load balancers and orchestrators: no authentication, no details leaked."""

from __future__ import annotations

import logging

from django.db import DatabaseError, connection
from django.db.migrations.executor import MigrationExecutor
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

logger = logging.getLogger(__name__)

# Once the schema is current it stays current for the life of the process (migrations run
# before a deploy starts new workers), so the migration plan is computed until it is empty.
_schema_current = False


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """The process is up and answering."""
    return JsonResponse({"status": "ok"})


@never_cache
@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    """Ready for traffic: the database answers and every migration is applied."""
    global _schema_current
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        if not _schema_current:
            executor = MigrationExecutor(connection)
            _schema_current = not executor.migration_plan(executor.loader.graph.leaf_nodes())
    except DatabaseError:
        logger.warning("readyz: database unavailable", exc_info=True)
        return JsonResponse({"status": "unavailable"}, status=503)
    if not _schema_current:
        return JsonResponse({"status": "unavailable"}, status=503)
    return JsonResponse({"status": "ok"})
