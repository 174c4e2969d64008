"""Superdesk's HTTP push: signed items at `/v1/push/superdesk`, media at `…/assets`."""
