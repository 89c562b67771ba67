"""The national need categories (two levels), as listed in zhiyuan/needs/taxonomy.py."""

from django.db import migrations


def seed(apps, schema_editor):
    from zhiyuan.needs.taxonomy import SEED

    NeedCategory = apps.get_model("needs", "NeedCategory")
    for sort, (code, zh, en, skill, items) in enumerate(SEED):
        top, _ = NeedCategory.objects.get_or_create(
            code=code, defaults={"name_zh": zh, "name_en": en, "skill_code": skill, "sort": sort * 100}
        )
        for n, (item, izh, ien, iskill) in enumerate(items):
            NeedCategory.objects.get_or_create(
                code=f"{code}.{item}",
                defaults={
                    "name_zh": izh,
                    "name_en": ien,
                    "skill_code": iskill,
                    "parent": top,
                    "sort": sort * 100 + n + 1,
                },
            )


def unseed(apps, schema_editor):
    NeedCategory = apps.get_model("needs", "NeedCategory")
    NeedCategory.objects.filter(region__isnull=True, parent__isnull=False).delete()
    NeedCategory.objects.filter(region__isnull=True).delete()


class Migration(migrations.Migration):
    dependencies = [("needs", "0001_initial")]

    operations = [migrations.RunPython(seed, unseed)]
