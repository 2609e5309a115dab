"""The install form's values editor: a form generated from the package's values schema,
with a YAML editor as the alternative. See ValuesForm."""

from deployments.values_form.form import MODE_FIELD, SWITCH_FIELD, YAML_FIELD, ValuesForm
from deployments.values_form.trees import MAX_YAML_BYTES

__all__ = ["MAX_YAML_BYTES", "MODE_FIELD", "SWITCH_FIELD", "YAML_FIELD", "ValuesForm"]
