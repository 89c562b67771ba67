"""The audit log refuses UPDATE and DELETE in the database itself."""

from django.db import migrations

from zhiyuan.core.db import append_only_operations

forward, backward = append_only_operations("core_auditevent")


class Migration(migrations.Migration):
    dependencies = [("core", "0001_initial")]
    operations = [migrations.RunPython(forward, backward)]
