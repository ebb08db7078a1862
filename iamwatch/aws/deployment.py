"""Where the deployed resources are: table names and queue URLs, from the Lambda environment.

serverless.yml sets these; a missing one fails at cold start with its name.
"""

from __future__ import annotations

import os

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from iamwatch.settings import ENV_PREFIX, SettingsError, environment_values


class Deployment(BaseModel):
    model_config = ConfigDict(frozen=True)

    state_table: str = Field(min_length=3)
    audit_table: str = Field(min_length=3)
    idempotency_table: str = Field(min_length=3)
    alert_queue_url: str = Field(min_length=8)
    alert_dlq_url: str | None = None
    # A day covers EventBridge's retry horizon (24 h) and the S3 backfill's delay.
    idempotency_ttl_seconds: int = Field(default=2 * 24 * 3600, ge=24 * 3600)
    enrichment: bool = True
    max_receive_count: int = Field(default=5, ge=1)
    # Only the export function has these (its own environment in serverless.yml).
    export_bucket: str | None = None
    export_kms_key_arn: str | None = None
    # Where the interactions endpoint queues approved remediations (interactions function only).
    remediation_queue_url: str | None = None


def load_deployment() -> Deployment:
    try:
        return Deployment.model_validate(environment_values(Deployment.model_fields, os.environ))
    except ValidationError as error:
        names = ", ".join(f"{ENV_PREFIX}{str(e['loc'][0]).upper()}" for e in error.errors())
        raise SettingsError(f"missing or invalid deployment settings: {names}") from None
