from django.db import migrations, models

# The two batch-job items of 000 "Daily Operations Checklist" get live evidence. `policy.load()`
# never changes rows that exist (an administrator may have edited them), so items seeded
# before this change are given the new kind here, only where nobody chose one.
WIRED = {("morning", "overnight-jobs"): "jobs", ("end-of-day", "batch-scheduled"): "job_schedule"}


def wire(apps, schema_editor):
    ChecklistItem = apps.get_model("shifts", "ChecklistItem")
    for (template, key), kind in WIRED.items():
        ChecklistItem.objects.filter(template__key=template, key=key, evidence="").update(
            evidence=kind
        )


def unwire(apps, schema_editor):
    ChecklistItem = apps.get_model("shifts", "ChecklistItem")
    for (template, key), kind in WIRED.items():
        ChecklistItem.objects.filter(template__key=template, key=key, evidence=kind).update(
            evidence=""
        )


class Migration(migrations.Migration):
    dependencies = [
        ("shifts", "0001_initial"),
    ]

    operations = [
        migrations.AlterField(
            model_name="checklistitem",
            name="evidence",
            field=models.CharField(
                blank=True,
                choices=[
                    ("", "None (the operator checks)"),
                    ("modules", "Module statuses"),
                    ("breakers", "Circuit breakers"),
                    ("queues", "Queue depths"),
                    ("dlq", "Dead letter queues"),
                    ("errors", "Error rates"),
                    ("alerts", "Alerts"),
                    ("throughput", "Throughput against baseline"),
                    ("success", "Transform and delivery success"),
                    ("quality", "Quality score"),
                    ("incidents", "Active incidents"),
                    ("oncall", "On call tonight"),
                    ("jobs", "Batch job results since the previous evening"),
                    ("job_schedule", "Batch jobs scheduled"),
                ],
                max_length=20,
            ),
        ),
        migrations.RunPython(wire, unwire),
    ]
