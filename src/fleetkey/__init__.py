"""fleetkey: a self-hosted device identity and credential service."""

__version__ = "0.1.0"
