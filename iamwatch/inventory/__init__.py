"""The migration report: every IAM user and root, what each really is (``kind``), where it
belongs (``recommendation``) and which posture checks it fails (README: Inventory).

Pure: sources are parsed into ``Identity`` models (``credential_report``, ``authorization``,
``iamwatch.aws.inventory`` for live reads), ``assess`` classifies and checks them, ``output``
renders the report. Nothing here calls AWS.
"""
