from django.apps import AppConfig


class DeliverabilityConfig(AppConfig):
    name = "deliverability"
    verbose_name = "Deliverability"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # The one receiver of anymail's `tracking` signal (provider webhooks).
        from deliverability.webhooks import connect_receiver

        connect_receiver()
