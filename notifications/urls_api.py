from django.urls import path

from notifications import api

urlpatterns = [
    path("subscriptions/", api.SubscriptionListView.as_view(), name="api-subscriptions"),
    path(
        "subscriptions/<int:subscription_id>/",
        api.SubscriptionDetailView.as_view(),
        name="api-subscription",
    ),
    path("notifications/", api.NotificationListView.as_view(), name="api-notifications"),
    path(
        "notifications/<int:notification_id>/read/",
        api.NotificationReadView.as_view(),
        name="api-notification-read",
    ),
]
