"""A page for an area whose app exists but whose feature has not been built yet."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


def pending_page(title: str, issue: int, summary: str):
    def view(request: HttpRequest) -> HttpResponse:
        context = {"title": title, "issue": issue, "summary": summary}
        return render(request, "console/pending.html", context)

    return view
