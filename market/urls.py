"""Market URLs: the browser pages under /market/ and, under /markets/, the files of
the markets this portal holds (SPEC section 3)."""

from django.urls import path, re_path

from market.views import browse, instances, markets, publish, serve

urlpatterns = [
    re_path(
        r"^markets/(?P<market>[a-z0-9-]{1,63})/(?P<path>.+)$",
        serve.market_file,
        name="market-file",
    ),
    path("market/", browse.catalogue, name="market-catalogue"),
    path("instances/", instances.instance_list_view, name="instance-list"),
    path("instances/new/", instances.instance_install_view, name="instance-install"),
    path(
        "instances/namespaces/new/",
        instances.namespace_create_view,
        name="instance-namespace-create",
    ),
    path(
        "instances/<slug:namespace>/<slug:name>/",
        instances.instance_detail_view,
        name="instance-detail",
    ),
    path(
        "instances/<slug:namespace>/<slug:name>/upgrade/",
        instances.instance_upgrade_view,
        name="instance-upgrade",
    ),
    path(
        "instances/<slug:namespace>/<slug:name>/rollback/",
        instances.instance_rollback_view,
        name="instance-rollback",
    ),
    path(
        "instances/<slug:namespace>/<slug:name>/uninstall/",
        instances.instance_uninstall_view,
        name="instance-uninstall",
    ),
    path(
        "instances/<slug:namespace>/<slug:name>/diff/",
        instances.revision_diff_view,
        name="instance-diff",
    ),
    path(
        "instances/<slug:namespace>/<slug:name>/operations/<uuid:operation_id>/steps/",
        instances.operation_steps_view,
        name="instance-operation-steps",
    ),
    path("market/publish/", publish.publish, name="market-publish"),
    path("market/markets/", markets.market_list_view, name="market-list"),
    path("market/markets/new/", markets.market_add_view, name="market-add"),
    path("market/markets/<slug:market>/sync/", markets.market_sync_view, name="market-sync"),
    path("market/<slug:market>/<slug:app>/", browse.app_detail, name="market-app"),
    path("market/<slug:market>/<slug:app>/icon", browse.app_icon, name="market-app-icon"),
    path(
        "market/<slug:market>/<slug:app>/docs/<path:slug>",
        browse.app_doc,
        name="market-app-doc",
    ),
]
