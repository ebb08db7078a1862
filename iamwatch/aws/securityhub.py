"""Security Hub import: ASFF findings through BatchImportFindings, 100 per call (its limit),
as the calling account's custom integration.

A custom integration may import only findings about its own account, so findings about other
accounts are not sent; they are reported as failed with the reason, as are the findings
Security Hub refuses.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from iamwatch.export import ExportedFinding
from iamwatch.export.asff import checked

BATCH_SIZE = 100


class SecurityHubClient(Protocol):
    # boto3 names the parameter as the API does.
    def batch_import_findings(self, *, Findings: list[dict[str, Any]]) -> Mapping[str, Any]: ...


@dataclass
class ImportReport:
    imported: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)  # (finding id, reason)

    @property
    def ok(self) -> bool:
        return not self.failed


def import_findings(
    client: SecurityHubClient, rows: Iterable[ExportedFinding], account: str, region: str
) -> ImportReport:
    report = ImportReport()
    batch: list[dict[str, Any]] = []
    for row in rows:
        about = row.finding.account or account
        if about != account:
            report.failed.append(
                (
                    row.finding.finding_id,
                    f"about account {about}: import it from that account (a custom "
                    f"integration imports only its own account's findings)",
                )
            )
            continue
        batch.append(checked(row, product_region=region, product_account=account))
        if len(batch) == BATCH_SIZE:
            _send(client, batch, report)
            batch = []
    if batch:
        _send(client, batch, report)
    return report


def _send(client: SecurityHubClient, batch: list[dict[str, Any]], report: ImportReport) -> None:
    response = client.batch_import_findings(Findings=batch)
    report.imported += int(response.get("SuccessCount", 0))
    for failure in response.get("FailedFindings", []):
        reason = f"{failure.get('ErrorCode')}: {failure.get('ErrorMessage')}"
        report.failed.append((str(failure.get("Id")), reason))
