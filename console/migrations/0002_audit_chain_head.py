from django.db import migrations


def create_head(apps, schema_editor):
    # The row every audit append locks; created here so that two first appends never race
    # to insert it.
    apps.get_model("console", "AuditChainHead").objects.get_or_create(pk=1)


class Migration(migrations.Migration):
    dependencies = [("console", "0001_initial")]
    operations = [migrations.RunPython(create_head, migrations.RunPython.noop)]
