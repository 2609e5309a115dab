"""Browser forms of the instance pages. They parse input only; the rules (who may
install where, what values are valid) live in the services."""

from __future__ import annotations

from typing import Any

from django import forms
from django.db.models import QuerySet

from deployments.models import DeployTarget
from portal.models import Team


class InstanceNamespaceForm(forms.Form):
    """A new namespace from the instances pages: the team is one where the user
    is an operator (namespace_create's own rule), the deploy target and, for a
    Kubernetes one, a registered cluster (whether the pair fits is the service's
    rule too: its refusal is shown on the form)."""

    team = forms.ModelChoiceField(queryset=Team.objects.none(), to_field_name="name")
    name = forms.CharField(
        max_length=63, help_text="Unique on the site: lowercase letters, digits and dashes."
    )
    target = forms.ChoiceField(
        label="Deploy target",
        required=False,  # unsent: the GitOps repository, as before targets were offered
        choices=DeployTarget.choices,
        initial=DeployTarget.GITOPS,
        widget=forms.RadioSelect,
        help_text="A GitOps repository that a controller such as Argo CD applies, or "
        "straight into a Kubernetes cluster.",
    )
    cluster = forms.CharField(
        required=False,
        max_length=63,
        label="Cluster",
        widget=forms.Select,
        help_text="For a Kubernetes cluster only: the namespace of the same name is "
        "created there by the first install.",
    )
    description = forms.CharField(max_length=200, required=False)

    def __init__(
        self, *args: Any, teams: QuerySet[Team], clusters: list[str], **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.fields["team"].queryset = teams  # type: ignore[attr-defined]
        self.fields["team"].empty_label = None  # type: ignore[attr-defined]
        # Any name is passed on: the service says when it is no registered cluster.
        none = "No cluster registered yet" if not clusters else "Choose a cluster"
        self.fields["cluster"].widget.choices = [("", none)] + [(c, c) for c in clusters]

    def clean_target(self) -> str:
        return str(self.cleaned_data.get("target") or DeployTarget.GITOPS)


class InstallForm(forms.Form):
    """Where and what to install; the values are the ValuesForm beside it. The
    namespace is any name: the view looks it up as the user may see it and the
    service decides whether they may install there."""

    namespace = forms.CharField(max_length=63, widget=forms.Select)
    name = forms.CharField(
        max_length=53,
        label="Instance name",
        help_text="Lowercase letters, digits and dashes. Dependencies are named after their app.",
    )
    version = forms.ChoiceField()

    def __init__(
        self, *args: Any, namespaces: list[str], versions: list[str], **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.fields["namespace"].widget.choices = [(n, n) for n in namespaces]
        self.fields["version"].choices = [(v, v) for v in versions]  # type: ignore[attr-defined]


class UpgradeForm(forms.Form):
    version = forms.ChoiceField(label="Upgrade to")

    def __init__(self, *args: Any, versions: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["version"].choices = versions  # type: ignore[attr-defined]


class ClusterAddForm(forms.Form):
    """A Kubernetes cluster, as staff register it. The rules (URL, CA or the insecure
    flag, the token, the server's answers) are cluster_add's; the token is never
    rendered back, so a refused form asks for it again."""

    name = forms.CharField(
        max_length=63, help_text="Lowercase letters, digits and dashes; namespaces name it."
    )
    description = forms.CharField(max_length=200, required=False)
    server = forms.CharField(
        max_length=500,
        label="API server URL",
        help_text="https://host:port, as in a kubeconfig's clusters[].cluster.server.",
        widget=forms.TextInput(attrs={"spellcheck": "false", "autocomplete": "off"}),
    )
    ca_cert = forms.CharField(
        required=False,
        label="CA certificate (PEM)",
        help_text="The CA that signs the API server's certificate: a kubeconfig's "
        "certificate-authority-data, base64-decoded.",
        widget=forms.Textarea(attrs={"rows": 6, "spellcheck": "false"}),
    )
    insecure_skip_tls_verify = forms.BooleanField(
        required=False,
        label="Skip TLS verification (anyone on the path could read the token)",
    )
    token = forms.CharField(
        max_length=16 * 1024,
        label="Token",
        help_text="A bearer token that may create, patch and delete in namespaces. Stored "
        "encrypted and never shown again.",
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}, render_value=False),
    )
    allow_private_network = forms.BooleanField(
        required=False,
        label="Allow private network addresses (loopback, link-local, private ranges)",
    )
