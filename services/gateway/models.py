"""Every table of the gateway schema (imported by migrations for autogenerate)."""

from services.gateway.database import ApiClient, LoginFailure, RefreshToken, SigningKey, User, metadata
from services.gateway.webhooks.models import FeedCursor, Webhook, WebhookDelivery, WebhookDeliveryAttempt

__all__ = [
    "ApiClient",
    "FeedCursor",
    "LoginFailure",
    "RefreshToken",
    "SigningKey",
    "User",
    "Webhook",
    "WebhookDelivery",
    "WebhookDeliveryAttempt",
    "metadata",
]
