"""The REST API under /api/v1/ (DESIGN.md, "Interfaces that others rely on"): JSON only,
`Authorization: Bearer <api key>`, one error shape, per-key throttling, per-view body limits."""
