"""What every admin of ours shares: tenant scoping, allow-listed lookups, one answer for missing and forbidden."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.admin.utils import get_fields_from_path
from django.core.exceptions import PermissionDenied
from django.http import Http404

from campaigns.models import (
    WRITE_ROLES,
    Membership,
    Tenant,
)
from campaigns.selectors import role_in, tenants_for_user

# The query-string lookups a list filter of each kind writes (Django's field list filters), and nothing else.
FILTER_LOOKUPS = ("", "__exact", "__isnull", "__in")
RELATED_FILTER_LOOKUPS = ("__id__exact", "__id__in", "__isnull")
DATE_FILTER_LOOKUPS = ("__gte", "__lt", "__isnull")


class AllowListedLookups:
    """Admin changelists accept only the lookups their list filters write. Django's default also lets any lookup
    on a model's own fields through (`?webhook_secret__regex=^a` answers whether a secret starts with "a"): here
    anything else, and any value with a NUL byte, is refused; Django answers DisallowedModelAdminLookup with 400."""

    def allowed_lookups(self, request) -> set[str]:
        allowed: set[str] = set()
        for item in self.get_list_filter(request):
            if isinstance(item, type):  # a SimpleListFilter: its one parameter
                allowed.add(item.parameter_name)
                continue
            path = item[0] if isinstance(item, list | tuple) else item
            field = get_fields_from_path(self.model, path)[-1]
            if field.is_relation:
                suffixes = RELATED_FILTER_LOOKUPS
            elif field.get_internal_type() in ("DateField", "DateTimeField"):
                suffixes = DATE_FILTER_LOOKUPS
            else:
                suffixes = FILTER_LOOKUPS
            allowed.update(path + suffix for suffix in suffixes)
        return allowed

    def lookup_allowed(self, lookup, value, request=None):
        if "\x00" in str(value):  # PostgreSQL cannot take it: a 500 otherwise
            return False
        return lookup in self.allowed_lookups(request)


class SameAnswerForMissing:
    """Objects the user may not see and objects that do not exist get the same answer on every object page.

    Django redirects a missing object's change, history and delete pages to the index ("... with ID 12 doesn't
    exist"); here that is a 404, as in the dashboard and the API. Its history page also looked the object up
    before checking permissions, so a user without any permission on a model got 403 for an existing id and a
    redirect for a missing one (which users, tenants, groups exist): here permissions come first."""

    def _get_obj_does_not_exist_redirect(self, request, opts, object_id):
        raise Http404

    def history_view(self, request, object_id, extra_context=None):
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        return super().history_view(request, object_id, extra_context)


class TenantScopedAdmin(SameAnswerForMissing, AllowListedLookups, admin.ModelAdmin):
    """Every queryset, choice list and permission check goes through the user's memberships."""

    write_roles = WRITE_ROLES  # roles that may add, change and delete

    def user_tenants(self, request):
        return tenants_for_user(request.user)

    def writable_tenants(self, request):
        if request.user.is_superuser:
            return Tenant.objects.all()
        return Tenant.objects.filter(memberships__user=request.user, memberships__role__in=self.write_roles)

    def get_queryset(self, request):
        return super().get_queryset(request).filter(tenant__in=self.user_tenants(request))

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        # Choices offer only what the user may write to: a viewer in A who manages B cannot pick A.
        if db_field.name == "tenant":
            kwargs["queryset"] = self.writable_tenants(request)
        elif hasattr(db_field.related_model, "tenant"):
            kwargs["queryset"] = db_field.related_model.objects.filter(tenant__in=self.writable_tenants(request))
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request, obj, form, change):
        if getattr(obj, "campaign_id", None):
            obj.tenant_id = obj.campaign.tenant_id  # a row always belongs to its campaign's tenant
        if not self._can_write(request, obj):
            raise PermissionDenied
        super().save_model(request, obj, form, change)

    def _can_write(self, request, obj=None) -> bool:
        if request.user.is_superuser:
            return True
        if obj is not None:  # an object without a tenant (the global do-not-call list) is superusers' only
            return obj.tenant_id is not None and role_in(request.user, obj.tenant_id) in self.write_roles
        return Membership.objects.filter(user=request.user, role__in=self.write_roles).exists()

    def has_module_permission(self, request):
        return request.user.is_active and request.user.is_staff and self.user_tenants(request).exists()

    def has_view_permission(self, request, obj=None):
        return self.has_module_permission(request) and (obj is None or obj.tenant in self.user_tenants(request))

    def has_add_permission(self, request):
        return self._can_write(request)

    def has_change_permission(self, request, obj=None):
        return self._can_write(request, obj)

    def has_delete_permission(self, request, obj=None):
        return self._can_write(request, obj)


class ReadOnlyTenantAdmin(TenantScopedAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
