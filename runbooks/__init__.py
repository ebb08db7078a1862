"""Runbooks ship as package data so the CLI and Lambda can read them wherever installed."""
