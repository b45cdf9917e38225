"""Inbound webhook adapters (form plugins, email providers) and outbound delivery."""
