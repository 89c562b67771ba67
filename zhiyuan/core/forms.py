"""Small pieces shared by the apps' forms."""

from django.utils.translation import gettext_lazy

# The first, empty choice of a select, instead of Django's "---------" (which no one reads).
CHOOSE = gettext_lazy("— choose —")
