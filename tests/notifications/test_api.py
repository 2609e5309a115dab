"""The API: each user sees and manages their own subscriptions and their teams'
(team ones by team admins and staff), and only their own inbox. Hostile input is
refused with a clear error and writes nothing."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from deployments.models import Namespace
from market.models import Market
from notifications.models import Notification, Subscription
from notifications.services.events import event_yanked
from notifications.services.subscriptions import subscription_create
from portal.actors import Actor
from portal.models import AuditEvent, Role
from tests.factories import make_namespace, make_team, make_token, make_user
from tests.notifications.conftest import Receiver
from tests.notifications.helpers import deployed

pytestmark = pytest.mark.django_db


def client_for(user: Any) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {make_token(user)}")
    return client


@pytest.fixture
def people(db: None) -> dict[str, Any]:
    alice, bob, ada, mallory = (make_user(n) for n in ("alice", "bob", "ada", "mallory"))
    team = make_team("payments", members={alice: Role.OPERATOR, bob: Role.VIEWER, ada: Role.ADMIN})
    make_team("other", members={mallory: Role.ADMIN})
    namespace = make_namespace(team, "pay-prod")
    market = Market.objects.create(name="apps", location="/tmp/none")
    return {
        "alice": alice,
        "bob": bob,
        "ada": ada,
        "mallory": mallory,
        "team": team,
        "namespace": namespace,
        "market": market,
    }


def test_subscribe_list_and_delete_through_the_api(people: dict[str, Any]) -> None:
    api = client_for(people["alice"])
    created = api.post(
        "/api/v1/subscriptions/",
        {"channel": "portal", "events": ["new-version", "operation-failed"]},
        format="json",
    )
    assert created.status_code == 201, created.json()
    body = created.json()
    assert body["user"] == "alice" and body["team"] is None and "secret" not in body

    listed = api.get("/api/v1/subscriptions/").json()
    assert [row["id"] for row in listed["results"]] == [body["id"]]
    assert api.delete(f"/api/v1/subscriptions/{body['id']}/").status_code == 204
    assert not Subscription.objects.exists()
    actions = list(
        AuditEvent.objects.filter(action__startswith="subscription")
        .order_by("id")
        .values_list("action", "actor_label")
    )
    assert actions == [("subscription.create", "alice"), ("subscription.delete", "alice")]


def test_webhook_secret_is_in_the_creation_answer_only(
    people: dict[str, Any], receiver: Receiver
) -> None:
    api = client_for(people["alice"])
    created = api.post(
        "/api/v1/subscriptions/",
        {"channel": "webhook", "events": ["yanked"], "url": receiver.url},
        format="json",
    )
    assert created.status_code == 201, created.json()
    secret = created.json()["secret"]
    assert created["Cache-Control"] == "no-store"

    again = api.get(f"/api/v1/subscriptions/{created.json()['id']}/")
    listed = api.get("/api/v1/subscriptions/")
    assert secret not in again.content.decode() and "secret" not in again.json()
    assert secret not in listed.content.decode()


def test_team_subscriptions_are_managed_by_team_admins_and_staff_only(
    people: dict[str, Any],
) -> None:
    payload = {"channel": "portal", "events": ["yanked"], "team": "payments"}

    refused = client_for(people["alice"]).post("/api/v1/subscriptions/", payload, format="json")
    hidden = client_for(people["mallory"]).post("/api/v1/subscriptions/", payload, format="json")
    made = client_for(people["ada"]).post("/api/v1/subscriptions/", payload, format="json")

    assert refused.status_code == 403
    assert hidden.status_code == 404  # another team is not even there
    assert made.status_code == 201 and made.json()["team"] == "payments"
    team_sub = made.json()["id"]
    # Members see it; they cannot delete it; others do not see it.
    assert [
        r["id"] for r in client_for(people["bob"]).get("/api/v1/subscriptions/").json()["results"]
    ] == [team_sub]
    assert client_for(people["bob"]).delete(f"/api/v1/subscriptions/{team_sub}/").status_code == 403
    assert (
        client_for(people["mallory"]).get(f"/api/v1/subscriptions/{team_sub}/").status_code == 404
    )
    assert (
        client_for(people["mallory"]).delete(f"/api/v1/subscriptions/{team_sub}/").status_code
        == 404
    )
    staff = make_user("root", staff=True)
    assert client_for(staff).delete(f"/api/v1/subscriptions/{team_sub}/").status_code == 204


def test_a_users_own_subscription_is_theirs_alone(people: dict[str, Any]) -> None:
    own = subscription_create(
        actor=Actor(user=people["alice"]), channel="portal", events=["yanked"]
    ).subscription
    for other in (people["bob"], people["mallory"]):
        api = client_for(other)
        assert api.get(f"/api/v1/subscriptions/{own.pk}/").status_code == 404
        assert api.delete(f"/api/v1/subscriptions/{own.pk}/").status_code == 404
        assert api.get("/api/v1/subscriptions/").json()["results"] == []
    assert Subscription.objects.filter(pk=own.pk).exists()


@pytest.mark.parametrize(
    ("payload", "words"),
    [
        ({"channel": "webhook", "events": ["yanked"], "url": "ftp://example.org/x"}, "http"),
        ({"channel": "webhook", "events": ["yanked"], "url": "http:///nohost"}, "host"),
        (
            {"channel": "webhook", "events": ["yanked"], "url": "http://u:p@127.0.0.1/"},
            "credentials",
        ),
        ({"channel": "webhook", "events": ["yanked"], "url": "http://127.0.0.1:9/"}, "loopback"),
        ({"channel": "webhook", "events": ["yanked"], "url": "http://10.1.2.3/"}, "private"),
        (
            {"channel": "webhook", "events": ["yanked"], "url": "http://169.254.169.254/"},
            "metadata",
        ),
        ({"channel": "webhook", "events": ["yanked"], "url": "http://[::1]/"}, "loopback"),
        ({"channel": "webhook", "events": ["yanked"], "url": "http://a b/"}, "spaces"),
        ({"channel": "webhook", "events": ["yanked"], "url": "http://x/" + "a" * 600}, "500"),
        ({"channel": "webhook", "events": ["yanked"]}, "needs a url"),
        ({"channel": "webhook", "events": ["yanked"], "url": "http://x.invalid/"}, "resolve"),
        (
            {"channel": "portal", "events": ["yanked"], "url": "https://example.org/"},
            "only webhooks",
        ),
        ({"channel": "portal", "events": ["everything"]}, "unknown event"),
        ({"channel": "portal", "events": []}, "events"),
        ({"channel": "pager", "events": ["yanked"]}, "channel"),
        ({"channel": "portal", "events": "yanked"}, "events"),
    ],
)
def test_hostile_subscriptions_are_refused_and_write_nothing(
    people: dict[str, Any], payload: dict[str, Any], words: str
) -> None:
    response = client_for(people["alice"]).post("/api/v1/subscriptions/", payload, format="json")

    assert response.status_code == 400, response.json()
    assert words in response.content.decode().lower()
    assert not Subscription.objects.exists()
    assert not AuditEvent.objects.filter(action__startswith="subscription").exists()


def test_metadata_address_is_refused_even_with_private_networks_allowed(
    people: dict[str, Any], settings: Any
) -> None:
    settings.NOTIFY_WEBHOOK_ALLOW_PRIVATE_NETWORK = True
    api = client_for(people["alice"])
    refused = api.post(
        "/api/v1/subscriptions/",
        {"channel": "webhook", "events": ["yanked"], "url": "http://169.254.169.254/latest/"},
        format="json",
    )
    allowed = api.post(
        "/api/v1/subscriptions/",
        {"channel": "webhook", "events": ["yanked"], "url": "http://10.1.2.3/hook"},
        format="json",
    )
    assert refused.status_code == 400 and "metadata" in refused.json()["detail"]
    assert allowed.status_code == 201


def test_inbox_lists_and_marks_only_the_callers_notifications(people: dict[str, Any]) -> None:
    for name in ("alice", "bob"):
        subscription_create(actor=Actor(user=people[name]), channel="portal", events=["yanked"])
    shop = deployed(people["namespace"], people["market"], "web-app", "1.0.0", name="shop")
    event_yanked(instance=shop, reason="data loss")
    alice_note = Notification.objects.get(user=people["alice"])
    bob_note = Notification.objects.get(user=people["bob"])
    api = client_for(people["alice"])

    listed = api.get("/api/v1/notifications/?unread=1").json()
    assert [row["id"] for row in listed["results"]] == [alice_note.pk]
    assert listed["results"][0]["kind"] == "yanked"
    assert listed["results"][0]["payload"]["reason"] == "data loss"
    assert api.post(f"/api/v1/notifications/{bob_note.pk}/read/").status_code == 404
    read = api.post(f"/api/v1/notifications/{alice_note.pk}/read/")
    assert read.status_code == 200 and read.json()["read_at"]
    assert api.get("/api/v1/notifications/?unread=1").json()["results"] == []
    bob_note.refresh_from_db()
    assert bob_note.read_at is None


def test_user_removed_from_the_team_no_longer_hears_of_its_instances(
    people: dict[str, Any], receiver: Receiver
) -> None:
    from notifications.models import Delivery
    from notifications.services.delivery import delivery_attempt

    subscription_create(
        actor=Actor(user=people["bob"]), channel="webhook", events=["yanked"], url=receiver.url
    )
    namespace: Namespace = people["namespace"]
    shop = deployed(namespace, people["market"], "web-app", "1.0.0", name="shop")
    event_yanked(instance=shop, reason="x")
    namespace.team.memberships.filter(user=people["bob"]).delete()  # before the worker runs

    delivery_attempt(delivery_id=Delivery.objects.get().pk)

    assert receiver.received == []
    assert Delivery.objects.get().last_error == "the subscriber may no longer see this instance"
