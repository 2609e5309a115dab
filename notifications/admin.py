from django.contrib import admin
from django.http import HttpRequest

from notifications.models import Delivery, DeliveryAttempt, Event, Notification, Subscription


@admin.register(Subscription)
class SubscriptionAdmin(admin.ModelAdmin):
    """Read-only: subscriptions are made through the service (the URL passes the
    network guard, the change is audited); never the secret."""

    list_display = ("id", "user", "team", "channel", "url", "created_at")
    list_filter = ("channel",)
    fields = ("user", "team", "channel", "events", "url", "created_by", "created_at")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
    list_display = ("key", "kind", "instance", "created_at")
    list_filter = ("kind",)
    search_fields = ("key", "title")
    readonly_fields = ("key", "kind", "instance", "title", "payload", "created_at")


class DeliveryAttemptInline(admin.TabularInline):
    model = DeliveryAttempt
    extra = 0
    readonly_fields = ("number", "started_at", "finished_at", "ok", "status_code", "error")
    can_delete = False


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    list_display = ("id", "event", "subscription", "channel", "state", "attempts", "sent_at")
    list_filter = ("state", "channel")
    inlines = [DeliveryAttemptInline]
    readonly_fields = ("event", "subscription", "channel", "created_at", "sent_at")


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ("id", "user", "event", "created_at", "read_at")
    readonly_fields = ("user", "event", "created_at")
