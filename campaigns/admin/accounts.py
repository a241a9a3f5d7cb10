"""Tenants, memberships, trunks and API keys."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.contrib.auth import get_user_model
from rest_framework.authtoken.admin import TokenProxy

from campaigns.admin.base import AllowListedLookups, SameAnswerForMissing, TenantScopedAdmin
from campaigns.models import (
    ApiToken,
    Membership,
    Role,
    Tenant,
    Trunk,
)


@admin.register(Membership)
class MembershipAdmin(TenantScopedAdmin):
    list_display = ["user", "tenant", "role"]

    write_roles = {Role.OWNER}  # who belongs to a tenant: owners decide

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "user" and not request.user.is_superuser:
            # Users carry no tenant: offer only people already in a tenant this owner runs.
            kwargs["queryset"] = (
                get_user_model().objects.filter(memberships__tenant__in=self.writable_tenants(request)).distinct()
            )
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


@admin.register(Tenant)
class TenantAdmin(SameAnswerForMissing, AllowListedLookups, admin.ModelAdmin):
    list_display = ["name", "slug", "created_at"]

    def has_module_permission(self, request):
        return request.user.is_superuser

    has_view_permission = has_change_permission = has_delete_permission = lambda self, request, obj=None: (
        request.user.is_superuser
    )

    def has_add_permission(self, request):
        return request.user.is_superuser


class TrunkForm(forms.ModelForm):
    password = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="Never shown back. Leave empty to keep the current password.",
    )

    class Meta:
        model = Trunk
        fields = [
            "tenant",
            "name",
            "host",
            "port",
            "transport",
            "username",
            "password",
            "caller_id",
            "register",
            "max_concurrent_calls",
            "calls_per_second",
            "max_inbound_calls",
        ]

    def clean_password(self):
        password = self.cleaned_data["password"]
        return password or (self.instance.password if self.instance.pk else "")


@admin.register(Trunk)
class TrunkAdmin(TenantScopedAdmin):
    form = TrunkForm
    list_display = ["name", "tenant", "host", "port", "transport", "max_concurrent_calls", "calls_per_second"]
    readonly_fields = ["password_set"]

    write_roles = {Role.OWNER}  # trunks carry credentials: owners only

    def get_fields(self, request, obj=None):
        # The password is write-only: owners get an empty password input; a read-only page (managers, viewers)
        # would render the stored value as text, so it shows only whether one is set.
        fields = [f for f in super().get_fields(request, obj) if f not in ("password", "password_set")]
        if self.has_change_permission(request, obj) or (obj is None and self.has_add_permission(request)):
            return [*fields, "password"]
        return [*fields, "password_set"]

    @admin.display(description="Password set", boolean=True)
    def password_set(self, obj):
        return bool(obj and obj.password)


# may revoke a key; nobody can read one back).
admin.site.unregister(TokenProxy)


@admin.register(ApiToken)
class ApiTokenAdmin(SameAnswerForMissing, admin.ModelAdmin):
    list_display = ["user", "digest_start", "created_at"]
    fields = ["user", "created_at"]
    readonly_fields = fields

    @admin.display(description="Digest")
    def digest_start(self, obj):
        return f"{obj.digest[:8]}..."

    def has_module_permission(self, request):
        return request.user.is_superuser

    def has_view_permission(self, request, obj=None):
        return request.user.is_superuser

    def has_delete_permission(self, request, obj=None):
        return request.user.is_superuser

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
