from __future__ import annotations

from typing import Any

from django import forms

from notifications.models import Channel, EventKind
from portal.models import Role
from portal.permissions import teams_with_role

ME = "__me__"


class SubscriptionForm(forms.Form):
    owner = forms.ChoiceField(
        label="For", help_text="You, or a team you administer (all its members hear of it)."
    )
    channel = forms.ChoiceField(choices=Channel.choices, widget=forms.RadioSelect, initial="portal")
    events = forms.MultipleChoiceField(
        choices=EventKind.choices,
        widget=forms.CheckboxSelectMultiple,
        initial=list(EventKind.values),
        help_text="About the instances the subscriber may see.",
    )
    url = forms.CharField(
        label="Webhook URL",
        max_length=500,
        required=False,
        help_text="Webhooks only: http(s); each POST is signed (X-OpsMarket-Signature).",
    )

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        teams = teams_with_role(user, Role.ADMIN).order_by("name")
        owner = self.fields["owner"]
        assert isinstance(owner, forms.ChoiceField)
        owner.choices = [(ME, f"Me ({user.get_username()})")] + [
            (team.name, f"Team {team.name}") for team in teams
        ]
        self.teams = {team.name: team for team in teams}
