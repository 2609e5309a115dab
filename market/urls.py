from django.urls import re_path

from market.views import serve

urlpatterns = [
    re_path(
        r"^markets/(?P<market>[a-z0-9-]{1,63})/(?P<path>.+)$",
        serve.market_file,
        name="market-file",
    ),
]
