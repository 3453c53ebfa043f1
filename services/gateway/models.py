"""Every table of the gateway schema (imported by migrations for autogenerate)."""

from services.gateway.database import ApiClient, LoginFailure, RefreshToken, SigningKey, User, metadata

__all__ = ["ApiClient", "LoginFailure", "RefreshToken", "SigningKey", "User", "metadata"]
