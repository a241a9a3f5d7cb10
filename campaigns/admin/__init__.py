"""The admin, one module per area. Importing them registers every model; the last step wraps the other apps'
admins (users, groups, axes' login records, registered before ours since campaigns comes last in INSTALLED_APPS)
so that they too answer a missing object and a forbidden one alike."""

from django.contrib import admin

from campaigns.admin import accounts, calls, campaign  # noqa: F401  (registers the models)
from campaigns.admin.base import SameAnswerForMissing

for _model, _model_admin in list(admin.site._registry.items()):
    if not isinstance(_model_admin, SameAnswerForMissing):
        admin.site.unregister(_model)
        admin.site.register(_model, type(type(_model_admin).__name__, (SameAnswerForMissing, type(_model_admin)), {}))
