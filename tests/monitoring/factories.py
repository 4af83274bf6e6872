import factory

from monitoring.models import Module, Threshold


class ModuleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Module
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"mod{n}")
    kind = Module.Kind.GAMMA
    base_url = "http://127.0.0.1:9"
    poll_interval = 5


class ThresholdFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Threshold

    key = factory.Sequence(lambda n: f"threshold-{n}")
    scope = Module.Kind.GAMMA
    name = factory.Sequence(lambda n: f"Threshold {n}")
    expr = "sum(demo_gauge)"
