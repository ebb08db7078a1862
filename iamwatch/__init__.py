"""iamwatch: a real-time monitor for AWS identity compliance."""

__version__ = "0.1.0"
