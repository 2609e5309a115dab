"""Browser pages: the inbox and the subscriptions (list, new, one with its deliveries)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from notifications.forms import ME, SubscriptionForm
from notifications.selectors import (
    notification_get,
    notification_list,
    subscription_deliveries,
    subscription_get,
    subscription_list,
)
from notifications.services.inbox import notification_read, notifications_read_all
from notifications.services.subscriptions import (
    may_manage,
    subscription_create,
    subscription_delete,
)
from portal.actors import actor_from_request
from portal.services.errors import Forbidden, ServiceError

PAGE_SIZE = 30


@login_required
def inbox_view(request: HttpRequest) -> HttpResponse:
    unread = request.GET.get("unread") == "1"
    rows = notification_list(user=request.user, unread=unread)
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "notifications/inbox.html", {"page": page, "unread_only": unread})


@login_required
@require_POST
def notification_read_view(request: HttpRequest, notification_id: int) -> HttpResponse:
    notification = notification_get(user=request.user, notification_id=notification_id)
    notification_read(user=request.user, notification=notification)
    if request.POST.get("open") == "1":
        return redirect(
            "instance-detail",
            namespace=notification.event.instance.namespace.name,
            name=notification.event.instance.name,
        )
    return redirect("notification-inbox")


@login_required
@require_POST
def notification_read_all_view(request: HttpRequest) -> HttpResponse:
    count = notifications_read_all(user=request.user)
    messages.success(request, f"{count} notification{'s' if count != 1 else ''} marked read.")
    return redirect("notification-inbox")


@login_required
def subscription_list_view(request: HttpRequest) -> HttpResponse:
    rows = [
        {
            "owner": subscription.owner_label,
            "channel": subscription.get_channel_display(),
            "events": ", ".join(subscription.events),
            "target": subscription.target_label,
            "url": reverse("subscription-detail", args=[subscription.pk]),
            "open": "Deliveries",
        }
        for subscription in subscription_list(user=request.user)
    ]
    columns = [
        {"key": "owner", "label": "For"},
        {"key": "channel", "label": "Channel"},
        {"key": "events", "label": "Events", "kind": "code"},
        {"key": "target", "label": "Sent to"},
        {"key": "open", "label": "History", "kind": "link"},
    ]
    return render(request, "notifications/subscriptions.html", {"rows": rows, "columns": columns})


@login_required
def subscription_create_view(request: HttpRequest) -> HttpResponse:
    form = SubscriptionForm(request.POST or None, user=request.user)
    if request.method != "POST" or not form.is_valid():
        status = 400 if request.method == "POST" else 200
        return render(request, "notifications/new.html", {"form": form}, status=status)
    owner = form.cleaned_data["owner"]
    try:
        created = subscription_create(
            actor=actor_from_request(request),
            channel=form.cleaned_data["channel"],
            events=form.cleaned_data["events"],
            team=None if owner == ME else form.teams[owner],
            url=form.cleaned_data["url"],
        )
    except ServiceError as exc:
        field = "url" if form.cleaned_data["channel"] == "webhook" else None
        form.add_error(field, exc.message)
        return render(request, "notifications/new.html", {"form": form}, status=400)
    if created.secret:
        # The secret is on this response only: it is stored encrypted, never shown again.
        response = render(
            request,
            "notifications/secret.html",
            {"subscription": created.subscription, "secret": created.secret},
        )
        response["Cache-Control"] = "no-store"
        return response
    messages.success(request, "Subscribed.")
    return redirect("subscription-detail", subscription_id=created.subscription.pk)


@login_required
def subscription_detail_view(request: HttpRequest, subscription_id: int) -> HttpResponse:
    subscription = subscription_get(user=request.user, subscription_id=subscription_id)
    return render(
        request,
        "notifications/detail.html",
        {
            "subscription": subscription,
            "deliveries": subscription_deliveries(subscription),
            "can_manage": may_manage(request.user, subscription),
        },
    )


@login_required
@require_POST
def subscription_delete_view(request: HttpRequest, subscription_id: int) -> HttpResponse:
    subscription = subscription_get(user=request.user, subscription_id=subscription_id)
    try:
        subscription_delete(actor=actor_from_request(request), subscription=subscription)
    except Forbidden as exc:
        raise PermissionDenied(exc.message) from None
    messages.success(request, "Subscription deleted.")
    return redirect("subscription-list")
