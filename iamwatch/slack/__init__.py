"""Slack alerts: Block Kit rendering, delivery, dedup, suppression; imports slack-sdk lazily."""
