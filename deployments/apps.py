from django.apps import AppConfig


class DeploymentsConfig(AppConfig):
    name = "deployments"
    verbose_name = "Deployments"

    def ready(self) -> None:
        # The catalogue marks installed apps without importing this app
        # (market/selectors/installed.py says why).
        from deployments.selectors.overview import installations_by_app, instance_ids_of_apps
        from market.selectors.installed import installed_readers_register

        installed_readers_register(
            installed=installations_by_app, instance_ids=instance_ids_of_apps
        )
