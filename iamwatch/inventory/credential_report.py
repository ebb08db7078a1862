"""The IAM credential report (GetCredentialReport): one CSV row per user, root first.

Read as ``aws iam get-credential-report`` gives it, decoded (``--query Content --output text |
base64 -d``); the JSON the command prints (``Content`` in base64, ``GeneratedTime``) is read
too. AWS writes ``N/A`` (no such credential), ``no_information`` (never used, or not since
IAM began tracking in 2014) and ``not_supported`` (root's password fields) for missing
values; each becomes ``None`` or ``False``. A malformed row stops the read with the file and
line, since a half-read report would make identities look dormant that are not.
"""

from __future__ import annotations

import base64
import binascii
import csv
import io
from dataclasses import dataclass
from datetime import datetime

import orjson

from iamwatch.inventory.model import ROOT_USER, AccessKey

MISSING = frozenset({"N/A", "no_information", "not_supported", ""})
REQUIRED = (
    "user",
    "arn",
    "user_creation_time",
    "password_enabled",
    "password_last_used",
    "mfa_active",
    "access_key_1_active",
    "access_key_1_last_rotated",
    "access_key_1_last_used_date",
)


class InputFileError(ValueError):
    """An input file cannot be read; the message names the file and the line."""


@dataclass(frozen=True, slots=True)
class ReportRow:
    user: str
    arn: str
    account: str | None
    created: datetime | None
    password_enabled: bool
    password_last_used: datetime | None
    password_last_changed: datetime | None
    mfa_active: bool
    access_keys: tuple[AccessKey, ...]


@dataclass(frozen=True, slots=True)
class CredentialReport:
    rows: tuple[ReportRow, ...]
    generated: datetime | None = None


def _moment(value: str, where: str, column: str) -> datetime | None:
    if value in MISSING:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InputFileError(f"{where}: {column} is not a time: {value[:40]!r}") from None
    if moment.tzinfo is None:
        raise InputFileError(f"{where}: {column} has no time zone: {value[:40]!r}")
    return moment


def _flag(value: str, where: str, column: str) -> bool:
    if value in MISSING:
        return False
    lowered = value.lower()
    if lowered not in {"true", "false"}:
        raise InputFileError(f"{where}: {column} is not true or false: {value[:40]!r}")
    return lowered == "true"


def _text(value: str) -> str | None:
    return None if value in MISSING else value


def account_of(arn: str) -> str | None:
    parts = arn.split(":")
    return parts[4] if len(parts) > 5 and parts[4].isdigit() else None


def _keys(row: dict[str, str], where: str) -> tuple[AccessKey, ...]:
    keys = []
    for slot in (1, 2):
        prefix = f"access_key_{slot}_"
        if f"{prefix}active" not in row:
            continue
        active = _flag(row[f"{prefix}active"], where, f"{prefix}active")
        created = _moment(row.get(f"{prefix}last_rotated", "N/A"), where, f"{prefix}last_rotated")
        if not active and created is None:
            continue  # no key in this slot
        keys.append(
            AccessKey(
                slot=slot,
                active=active,
                created=created,
                last_used=_moment(
                    row.get(f"{prefix}last_used_date", "N/A"), where, f"{prefix}last_used_date"
                ),
                last_used_region=_text(row.get(f"{prefix}last_used_region", "N/A")),
                last_used_service=_text(row.get(f"{prefix}last_used_service", "N/A")),
            )
        )
    return tuple(keys)


def _unwrap(data: bytes, name: str) -> tuple[str, datetime | None]:
    """The CSV text, and the generation time when the file is the CLI's JSON."""
    stripped = data.lstrip()
    if not stripped.startswith(b"{"):
        try:
            return data.decode("utf-8-sig"), None
        except UnicodeDecodeError as error:
            raise InputFileError(f"{name}: not UTF-8 text (byte {error.start})") from None
    try:
        document = orjson.loads(data)
        content = base64.b64decode(document["Content"], validate=True).decode("utf-8-sig")
    except (orjson.JSONDecodeError, KeyError, TypeError, binascii.Error, UnicodeDecodeError):
        raise InputFileError(
            f"{name}: line 1: JSON but not get-credential-report output (Content in base64)"
        ) from None
    generated = document.get("GeneratedTime")
    moment = _moment(generated, f"{name}: line 1", "GeneratedTime") if generated else None
    return content, moment


def parse_credential_report(data: bytes, name: str) -> CredentialReport:
    text, generated = _unwrap(data, name)
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = reader.fieldnames or []
    missing = [column for column in REQUIRED if column not in header]
    if missing:
        raise InputFileError(
            f"{name}: line 1: not a credential report header (missing {', '.join(missing)})"
        )
    rows: list[ReportRow] = []
    seen: set[str] = set()
    try:
        for row in reader:
            where = f"{name}: line {reader.line_num}"
            if None in row or any(value is None for value in row.values()):
                raise InputFileError(f"{where}: has {len(header)} columns in the header, not here")
            user, arn = row["user"], row["arn"]
            if not user or not arn.startswith("arn:"):
                raise InputFileError(f"{where}: no user name or ARN")
            if user in seen:
                raise InputFileError(f"{where}: user {user!r} appears twice")
            seen.add(user)
            is_root = user == ROOT_USER
            rows.append(
                ReportRow(
                    user=user,
                    arn=arn,
                    account=account_of(arn),
                    created=_moment(row["user_creation_time"], where, "user_creation_time"),
                    # Root always has a password; the report says not_supported.
                    password_enabled=is_root
                    or _flag(row["password_enabled"], where, "password_enabled"),
                    password_last_used=_moment(
                        row["password_last_used"], where, "password_last_used"
                    ),
                    password_last_changed=_moment(
                        row.get("password_last_changed", "N/A"), where, "password_last_changed"
                    ),
                    mfa_active=_flag(row["mfa_active"], where, "mfa_active"),
                    access_keys=_keys(row, where),
                )
            )
    except csv.Error as error:
        raise InputFileError(f"{name}: line {reader.line_num}: {error}") from None
    return CredentialReport(rows=tuple(rows), generated=generated)
