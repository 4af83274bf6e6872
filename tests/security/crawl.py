"""A bounded crawler over the console's own pages, for checks that must hold on every page a
user can reach (secrets never shown, user text always inert, no inline script)."""

import html
import re
from collections import Counter, deque
from urllib.parse import urlsplit

# Links a page offers: anchors, fragment loads, form targets that answer GET, scripts.
LINK = re.compile(r'(?:href|hx-get|src|data-url)="(/[^"#]*)"')
# Never follow: signing out (ends the crawl's session), static files, the Swagger UI's assets.
SKIP = ("/logout/", "/admin/logout/", "/static/", "/api/docs/", "/api/schema/")
# Admin pages that show no field values (a confirmation, Django's own change log).
SKIP_ENDING = ("/delete/", "/history/")
DIGITS = re.compile(r"\d+")

# The API's reads, which pages do not link to.
API_READS = [
    "/api/v1/me/",
    "/api/v1/audit/",
    "/api/v1/modules/",
    "/api/v1/alerts/",
    "/api/v1/silences/",
    "/api/v1/routes/",
    "/api/v1/changes/",
    "/api/v1/maintenance-windows/",
    "/api/v1/incidents/",
    "/api/v1/shifts/",
    "/api/v1/rota/",
    "/api/v1/shift-log/",
    "/api/v1/handoffs/",
    "/api/v1/jobs/",
    "/api/v1/actions/",
    "/api/v1/oncall/now/",
    "/api/v1/pipeline/status/",
]


def crawl(client, start, limit: int = 400, per_shape: int = 3) -> dict:
    """GET `start` and every same-site link found, breadth first: one URL per path (the first
    query string seen), at most `per_shape` paths of one shape (`/incidents/INC-N-N/` — the
    same template with another object), at most `limit` pages. The console's own pages come
    first; then the admin (Django's templates over our models) with one object per model.
    Returns {url: response}."""
    pages: dict = {}
    paths: set[str] = set()
    shapes: Counter = Counter()
    for admin in (False, True):
        queue = deque(["/admin/"] if admin else [u for u in start if not u.startswith("/admin")])
        if admin and "/admin/" not in start:
            break
        while queue and len(pages) < limit:
            url = queue.popleft()
            path = urlsplit(url).path
            shape = DIGITS.sub("N", path)
            if path in paths or path.startswith(SKIP) or path.endswith(SKIP_ENDING):
                continue
            if path.startswith("/admin/") != admin:
                continue
            if url not in start and shapes[shape] >= (1 if admin else per_shape):
                continue
            paths.add(path)
            shapes[shape] += 1
            response = client.get(url)
            pages[url] = response
            if response.status_code != 200 or "html" not in response.get("Content-Type", ""):
                continue
            for link in LINK.findall(response.content.decode()):
                link = html.unescape(link)
                if urlsplit(link).path not in paths:
                    queue.append(link)
    return pages


def follow_api(client, pages: dict) -> dict:
    """The detail reads of the API lists already fetched (their `url` or `id` fields)."""
    extra = {}
    for url, response in list(pages.items()):
        if not url.startswith("/api/v1/") or response.status_code != 200:
            continue
        body = response.json()
        rows = body.get("results", body) if isinstance(body, dict) else body
        if not isinstance(rows, list):
            continue
        for row in rows[:5]:
            if isinstance(row, dict) and "id" in row:
                detail = f"{urlsplit(url).path}{row['id']}/"
                if detail not in pages:
                    extra[detail] = client.get(detail)
    return extra
