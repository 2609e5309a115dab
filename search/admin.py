from django.contrib import admin

from search.models import PendingIndex


@admin.register(PendingIndex)
class PendingIndexAdmin(admin.ModelAdmin):
    list_display = ("kind", "key", "created_at")
    list_filter = ("kind",)
    search_fields = ("key",)
