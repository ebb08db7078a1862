"""Adapters to AWS services, used by the Lambda handlers; imported only where needed."""
