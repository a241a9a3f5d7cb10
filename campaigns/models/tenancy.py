"""Tenants, who belongs to them and with which role, and API tokens."""

from __future__ import annotations

import hashlib
import secrets

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class TenantQuerySet(models.QuerySet):
    def for_tenant(self, tenant: Tenant | int) -> TenantQuerySet:
        return self.filter(tenant=tenant)


class Tenant(models.Model):
    name = models.CharField(max_length=200, verbose_name=_("name"))
    slug = models.SlugField(unique=True, verbose_name=_("slug"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

    class Meta:
        verbose_name = _("tenant")
        verbose_name_plural = _("tenants")

    def __str__(self) -> str:
        return self.name


class Role(models.TextChoices):
    OWNER = "owner"
    MANAGER = "manager"
    VIEWER = "viewer"


WRITE_ROLES = frozenset({Role.OWNER, Role.MANAGER})  # may change campaigns, contacts, lists; viewers only read


class Membership(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships", verbose_name=_("user")
    )
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="memberships", verbose_name=_("tenant"))
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.VIEWER, verbose_name=_("role"))

    objects = TenantQuerySet.as_manager()

    class Meta:
        verbose_name = _("membership")
        verbose_name_plural = _("memberships")
        constraints = [models.UniqueConstraint(fields=["user", "tenant"], name="one_membership_per_tenant")]

    def __str__(self) -> str:
        return f"{self.user} @ {self.tenant} ({self.role})"


class ApiToken(models.Model):
    """An API key, stored only as its SHA-256 digest: a copy of the database holds no key that works. The key is
    random (160 bits), so a plain digest is enough (no password hashing needed); it is shown once, when issued."""

    MAX_PER_USER = 20  # issuing more revokes the oldest

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens", verbose_name=_("user")
    )
    digest = models.CharField(max_length=64, unique=True, verbose_name=_("digest"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

    class Meta:
        verbose_name = _("API token")
        verbose_name_plural = _("API tokens")

    def __str__(self) -> str:
        return f"token {self.digest[:8]}... of {self.user}"

    @staticmethod
    def digest_of(key: str) -> str:
        return hashlib.sha256(key.encode()).hexdigest()

    @classmethod
    def issue(cls, user) -> tuple[ApiToken, str]:
        """A new token for `user` and its key (the only time the key exists outside the client)."""
        key = secrets.token_hex(20)
        token = cls.objects.create(user=user, digest=cls.digest_of(key))
        older = cls.objects.filter(user=user).order_by("-created_at", "-id").values_list("id", flat=True)
        cls.objects.filter(id__in=list(older[cls.MAX_PER_USER :])).delete()
        return token, key
