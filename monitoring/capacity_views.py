"""The capacity page (/capacity/): headroom, growth and projections per module kind, the
scaling calculator (HTMX, recomputed on every input change) and each plan's chart data."""

from django import forms
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, render

from . import capacity
from .models import CapacityPlan, CapacityThreshold, Module

VIEW = "monitoring.view_capacityplan"


def _require(request: HttpRequest) -> None:
    if not request.user.has_perm(VIEW):
        raise PermissionDenied


class CalculatorForm(forms.Form):
    """001 "Scaling Calculations" inputs; prefilled from a plan, editable on the page."""

    throughput = forms.FloatField(min_value=0, label="Current throughput (rec/s)")
    growth_factor = forms.FloatField(min_value=0.01, max_value=100, label="Growth factor")
    target_utilization = forms.FloatField(
        min_value=1, max_value=100, label="Target utilization (%)"
    )
    per_instance = forms.FloatField(min_value=0.001, label="Capacity per instance (rec/s)")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            field.widget.attrs.update({"class": "form-control form-control-sm", "step": "any"})


def _calculator_initial(fig: capacity.Figures | None) -> dict:
    if fig is None:
        # 001's worked example, when there is no plan to start from.
        return {
            "throughput": 4000,
            "growth_factor": 1.5,
            "target_utilization": 70,
            "per_instance": 1000,
        }
    plan = fig.plan
    return {
        "throughput": round(fig.peak if fig.peak is not None else 0, 1),
        "growth_factor": plan.growth_factor,
        "target_utilization": round(plan.target_utilization * 100, 1),
        "per_instance": plan.capacity_per_instance,
    }


def index(request: HttpRequest) -> HttpResponse:
    _require(request)
    figures = capacity.all_figures()
    first = next((f for f in figures if f.plan.kind == Module.Kind.BETA), None) or (
        figures[0] if figures else None
    )
    form = CalculatorForm(initial=_calculator_initial(first))
    context = {
        "title": "Capacity",
        "figures": figures,
        "thresholds": CapacityThreshold.objects.all(),
        "form": form,
        "result": _calculate(_calculator_initial(first)),
        "min_history_days": capacity.MIN_HISTORY.days,
    }
    return render(request, "monitoring/capacity.html", context)


def _calculate(data: dict) -> dict:
    exact, whole = capacity.required_instances(
        data["throughput"],
        data["growth_factor"],
        data["target_utilization"] / 100,
        data["per_instance"],
    )
    return {"exact": exact, "instances": whole, **data}


def calculator(request: HttpRequest) -> HttpResponse:
    """Recompute the scaling formula from the form's inputs (a GET: nothing is stored)."""
    _require(request)
    form = CalculatorForm(request.GET)
    result = _calculate(form.cleaned_data) if form.is_valid() else None
    return render(
        request, "monitoring/capacity.html#calculator-result", {"form": form, "result": result}
    )


def chart(request: HttpRequest, kind: str) -> JsonResponse:
    _require(request)
    plan = get_object_or_404(CapacityPlan, kind=kind)
    fig = capacity.figures(plan, threshold=capacity.headroom_threshold())
    return JsonResponse(capacity.chart(fig))
