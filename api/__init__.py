"""HTTP entry point: webhooks, knowledge API, (later) volunteer inbox and admin."""
