from django.urls import path, register_converter

from . import views


class ChangeNumber:
    """CHG-YYYY-MMDD-NNN (001 "Configuration Change Tracking")."""

    regex = r"CHG-\d{4}-\d{4}-\d{3,}"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


class IncidentNumber:
    regex = r"INC-\d{8}-\d{4,}"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(ChangeNumber, "chg")
register_converter(IncidentNumber, "chg_inc")

app_name = "changes"
urlpatterns = [
    path("", views.index, name="index"),
    path("new/", views.create, name="create"),
    path("cab/", views.cab, name="cab"),
    path("cab/minutes/", views.cab_minutes, name="cab_minutes"),
    path("weekly/", views.weekly, name="weekly"),
    path("weekly/chart.json", views.weekly_chart, name="weekly_chart"),
    path("freezes/", views.freezes, name="freezes"),
    path("for-incident/<chg_inc:number>/", views.incident_changes, name="incident_changes"),
    path("<chg:number>/", views.detail, name="detail"),
    path("<chg:number>/edit/", views.edit, name="edit"),
    path("<chg:number>/submit/", views.submit, name="submit"),
    path("<chg:number>/review/begin/", views.begin_review, name="begin_review"),
    path("<chg:number>/review/", views.review, name="review"),
    path("<chg:number>/decide/", views.decide, name="decide"),
    path("<chg:number>/vote/", views.cab_vote, name="cab_vote"),
    path("<chg:number>/revise/", views.revise, name="revise"),
    path("<chg:number>/verbal/", views.verbal, name="verbal"),
    path("<chg:number>/formal/", views.formal, name="formal"),
    path("<chg:number>/conflicts/", views.conflicts, name="conflicts"),
    path("<chg:number>/schedule/", views.schedule, name="schedule"),
    path("<chg:number>/checklist/<int:item>/", views.checklist, name="checklist"),
    path("<chg:number>/start/", views.start, name="start"),
    path("<chg:number>/log/", views.add_log, name="add_log"),
    path("<chg:number>/complete/", views.complete, name="complete"),
    path("<chg:number>/fail/", views.fail, name="fail"),
    path("<chg:number>/rollback/", views.rollback, name="rollback"),
    path("<chg:number>/pir/", views.pir, name="pir"),
    path("<chg:number>/close/", views.close, name="close"),
    path("<chg:number>/caused/", views.mark_caused, name="mark_caused"),
    path("<chg:number>/caused/remove/", views.unmark_caused, name="unmark_caused"),
]
