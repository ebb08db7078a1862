"""``iamwatch doctor``: is the monitor watching? Read-only checks of the deployment's parts, each
pass or fail with what is wrong, run by the CLI with the caller's credentials and on a schedule
in AWS, which alerts when one fails (``iamwatch.doctor.alert``)."""

from iamwatch.doctor.model import Check, Report, Status
from iamwatch.doctor.run import Doctor
from iamwatch.doctor.targets import Targets, TargetsError

__all__ = ["Check", "Doctor", "Report", "Status", "Targets", "TargetsError"]
