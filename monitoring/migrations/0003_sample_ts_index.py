from django.db import migrations

# Roll-ups and pruning read "every sample between t0 and t1" across all series, which the
# (series_id, ts) primary key cannot serve. On PostgreSQL a BRIN index on ts is tiny and nearly
# free to maintain for append-only time data; SQLite gets a plain B-tree.


def create(apps, schema_editor):
    using_brin = schema_editor.connection.vendor == "postgresql"
    method = "USING brin " if using_brin else ""
    schema_editor.execute(
        f"CREATE INDEX monitoring_sample_ts_idx ON monitoring_sample {method}(ts)"
    )


def drop(apps, schema_editor):
    schema_editor.execute("DROP INDEX monitoring_sample_ts_idx")


class Migration(migrations.Migration):
    dependencies = [("monitoring", "0002_monitoring_store")]
    operations = [migrations.RunPython(create, drop)]
