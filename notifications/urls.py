"""Browser pages of notifications: the inbox and the subscriptions."""

from django.urls import path

from notifications import views

urlpatterns = [
    path("notifications/", views.inbox_view, name="notification-inbox"),
    path("notifications/read-all/", views.notification_read_all_view, name="notification-read-all"),
    path(
        "notifications/<int:notification_id>/read/",
        views.notification_read_view,
        name="notification-read",
    ),
    path("notifications/subscriptions/", views.subscription_list_view, name="subscription-list"),
    path(
        "notifications/subscriptions/new/",
        views.subscription_create_view,
        name="subscription-create",
    ),
    path(
        "notifications/subscriptions/<int:subscription_id>/",
        views.subscription_detail_view,
        name="subscription-detail",
    ),
    path(
        "notifications/subscriptions/<int:subscription_id>/delete/",
        views.subscription_delete_view,
        name="subscription-delete",
    ),
]
