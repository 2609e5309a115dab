"""Template tags of the UI component library (loaded as a builtin in every template)."""

from django import template

register = template.Library()
