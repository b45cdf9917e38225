"""Fakes of outside services that real client libraries talk to over 127.0.0.1."""
