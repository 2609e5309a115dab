"""The catalogue page: merged across markets, filtered, sorted, paginated, and
costing the same number of queries whatever its size."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.factories import make_team, make_user
from tests.market.catalogue_factories import make_app, make_market

pytestmark = pytest.mark.django_db


@pytest.fixture
def logged_in(client, user):
    client.force_login(user)
    return client


def cards(html: str) -> list[str]:
    """App names of the cards on a catalogue page, in order."""
    return re.findall(r'<li class="app-card" data-app="([^"]+)"', html)


def test_anonymous_visitors_are_sent_to_log_in(client):
    response = client.get("/market/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=/market/")


def test_catalogue_lists_apps_of_every_market_with_their_details(logged_in):
    main, mirror = make_market("main"), make_market("mirror")
    make_app(main, "log-analyzer", versions=("1.3.0", "1.4.2"), summary="Finds error bursts")
    make_app(mirror, "redis-ops", versions=("2.0.0",), category="databases")

    response = logged_in.get("/market/")

    html = response.content.decode()
    assert response.status_code == 200
    assert cards(html) == ["log-analyzer", "redis-ops"]
    assert "Finds error bursts" in html
    assert 'href="/market/main/log-analyzer/"' in html
    assert 'href="/market/mirror/redis-ops/"' in html
    assert '<span class="market-badge__market">main</span>' in html
    assert '<span class="market-badge__version">1.4.2</span>' in html
    assert "<strong>2</strong> apps" in html


def test_an_app_offered_by_several_markets_is_one_card_showing_each_market(logged_in):
    make_app(make_market("alpha"), "log-analyzer", versions=("1.3.0",), title="Old title")
    make_app(make_market("beta"), "log-analyzer", versions=("1.4.2",), title="Log Analyzer")

    html = logged_in.get("/market/").content.decode()

    assert cards(html) == ["log-analyzer"]
    # The card shows the newest offer first, and links to each market's page.
    assert '<a class="app-card__link" href="/market/beta/log-analyzer/">Log Analyzer</a>' in html
    assert 'href="/market/alpha/log-analyzer/"' in html
    badges = re.findall(r'class="market-badge__market">([^<]+)<', html)
    assert badges == ["beta", "alpha"]


def test_keyword_filter_matches_name_title_summary_and_keywords(logged_in):
    market = make_market()
    make_app(market, "log-analyzer", keywords=["alerting"])
    make_app(market, "redis-ops", summary="Highly available Redis")
    make_app(market, "cert-watcher", title="Certificate Watcher")

    assert cards(logged_in.get("/market/?q=alerting").content.decode()) == ["log-analyzer"]
    assert cards(logged_in.get("/market/?q=highly").content.decode()) == ["redis-ops"]
    assert cards(logged_in.get("/market/?q=certificate").content.decode()) == ["cert-watcher"]
    assert cards(logged_in.get("/market/?q=redis+available").content.decode()) == ["redis-ops"]


def test_category_and_market_filters(logged_in):
    main, other = make_market("main"), make_market("other")
    make_app(main, "log-analyzer", category="observability")
    make_app(main, "redis-ops", category="databases")
    make_app(other, "log-collector", category="observability")

    by_category = logged_in.get("/market/?category=observability").content.decode()
    assert cards(by_category) == ["log-analyzer", "log-collector"]
    assert '<option value="observability" selected>Observability</option>' in by_category

    by_market = logged_in.get("/market/?market=other").content.decode()
    assert cards(by_market) == ["log-collector"]
    assert '<option value="other" selected>other</option>' in by_market

    both = logged_in.get("/market/?market=main&category=databases").content.decode()
    assert cards(both) == ["redis-ops"]


def test_unknown_filter_values_are_ignored_not_errors(logged_in):
    make_app(make_market(), "log-analyzer")
    response = logged_in.get("/market/?category=nope&market=nope&sort=sideways&page=x")
    assert response.status_code == 200
    assert cards(response.content.decode()) == ["log-analyzer"]


def test_sort_by_name_or_last_update(logged_in):
    market = make_market()
    make_app(market, "alpha", updated_days_ago=30)
    make_app(market, "bravo", updated_days_ago=1)
    make_app(market, "charlie", updated_days_ago=10)

    assert cards(logged_in.get("/market/").content.decode()) == ["alpha", "bravo", "charlie"]
    by_update = logged_in.get("/market/?sort=updated").content.decode()
    assert cards(by_update) == ["bravo", "charlie", "alpha"]
    assert 'class="segmented__item is-active" href="?sort=updated"' in by_update


def test_pagination_shows_24_apps_a_page_and_keeps_the_filters(logged_in):
    market = make_market()
    for number in range(30):
        make_app(market, f"app-{number:02d}", category="observability")

    first = logged_in.get("/market/?category=observability").content.decode()
    second = logged_in.get("/market/?category=observability&page=2").content.decode()

    assert len(cards(first)) == 24
    assert cards(second) == [f"app-{n}" for n in range(24, 30)]
    assert "Page 1 of 2" in first
    assert 'href="?category=observability&amp;page=2" rel="next"' in first
    assert 'href="?category=observability&amp;page=1" rel="prev"' in second
    assert "<strong>30</strong> apps" in first


def test_empty_catalogue_and_no_match_have_their_own_messages(logged_in, staff_user, client):
    empty = logged_in.get("/market/").content.decode()
    assert "The catalogue is empty" in empty
    assert "Ask an administrator" in empty

    client.force_login(staff_user)
    assert 'href="/market/markets/new/"' in client.get("/market/").content.decode()

    make_app(make_market(), "log-analyzer")
    no_match = logged_in.get("/market/?q=nothing-like-this").content.decode()
    assert "No app matches these filters" in no_match
    assert cards(no_match) == []


def test_cards_show_the_icon_when_there_is_one_and_initials_otherwise(logged_in):
    market = make_market()
    make_app(market, "log-analyzer", icon=("image/svg+xml", b"<svg/>"))
    make_app(market, "redis-ops", title="Redis Ops")

    html = logged_in.get("/market/").content.decode()

    assert 'src="/market/main/log-analyzer/icon"' in html
    assert re.search(r'app-icon--blank app-icon--hue-\d" aria-hidden="true">RO<', html)


def test_publish_button_only_for_users_who_may_publish(client, user):
    market = make_market("main", writable=True)
    client.force_login(user)
    assert 'href="/market/publish/"' not in client.get("/market/").content.decode()

    team = make_team("ops", members={user: "operator"})
    market.publishers.add(team)
    assert 'href="/market/publish/"' in client.get("/market/").content.decode()


def _catalogue_queries(client, apps: int, markets: int = 2) -> int:
    rows = [make_market(f"m{n}-{apps}") for n in range(markets)]
    for number in range(apps):
        make_app(
            rows[number % markets],
            f"app-{apps}-{number:03d}",
            versions=("1.0.0", "1.1.0"),
            icon=("image/svg+xml", b"<svg/>") if number % 2 else None,
        )
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/market/?sort=updated")
    assert response.status_code == 200
    return len(queries)


def test_catalogue_costs_the_same_queries_for_5_or_60_apps(
    logged_in, django_assert_max_num_queries
):
    small = _catalogue_queries(logged_in, 5)
    from market.models import App, Market

    App.objects.all().delete()
    Market.objects.all().delete()
    large = _catalogue_queries(logged_in, 60)
    assert small == large
    with django_assert_max_num_queries(10):
        logged_in.get("/market/?q=app&page=2")


def test_market_nav_item_is_highlighted_and_teams_and_audit_links_exist(client, user):
    client.force_login(user)
    html = client.get("/market/").content.decode()
    assert '<a class="nav__link is-active" href="/market/" aria-current="page">Market</a>' in html
    assert '<a class="nav__link" href="/teams/">Teams</a>' in html
    assert 'href="/audit/"' not in html

    client.force_login(make_user("root", staff=True))
    html = client.get("/market/main/app/").content.decode()  # a 404 page keeps the shell
    assert '<a class="nav__link" href="/audit/">Audit</a>' in html
