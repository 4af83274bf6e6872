from django.urls import path, register_converter

from . import views


class IncidentNumber:
    """INC-YYYYMMDD-NNNN (001 "Incident Ticket Requirements")."""

    regex = r"INC-\d{8}-\d{4,}"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(IncidentNumber, "inc")

app_name = "incidents"
urlpatterns = [
    path("", views.index, name="index"),
    path("declare/", views.declare, name="declare"),
    path("figures/", views.figures, name="figures"),
    path("figures/<slug:name>/", views.figures_chart, name="figures_chart"),
    path("inbox/", views.inbox, name="inbox"),
    path("inbox/read/", views.mark_read, name="mark_read"),
    path("<inc:number>/", views.detail, name="detail"),
    path("<inc:number>/acknowledge/", views.acknowledge, name="acknowledge"),
    path("<inc:number>/investigate/", views.investigate, name="investigate"),
    path("<inc:number>/mitigate/", views.mitigate, name="mitigate"),
    path("<inc:number>/resolve/", views.resolve, name="resolve"),
    path("<inc:number>/close/", views.close, name="close"),
    path("<inc:number>/reopen/", views.reopen, name="reopen"),
    path("<inc:number>/severity/", views.severity, name="severity"),
    path("<inc:number>/escalate/", views.escalate, name="escalate"),
    path("<inc:number>/notes/", views.add_note, name="add_note"),
    path("<inc:number>/responders/", views.add_responder, name="add_responder"),
    path("<inc:number>/modules/", views.update_modules, name="update_modules"),
    path("<inc:number>/data-loss/", views.confirm_data_loss, name="confirm_data_loss"),
    path("<inc:number>/update/", views.post_update, name="post_update"),
    path("<inc:number>/presence/", views.presence, name="presence"),
    path("<inc:number>/review/", views.review, name="review"),
    path("<inc:number>/review/start/", views.start_review, name="start_review"),
    path("<inc:number>/review/report/", views.review_report, name="review_report"),
    path("<inc:number>/review/items/", views.add_action_item, name="add_action_item"),
    path("<inc:number>/review/items/<int:item>/", views.set_action_item, name="set_action_item"),
]
