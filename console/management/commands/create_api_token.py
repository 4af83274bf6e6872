from django.contrib.auth import get_user_model
from django.core.management import BaseCommand, CommandError

from console import audit
from console.models import ApiToken


class Command(BaseCommand):
    help = "Issue an API bearer token for a user; the token is printed once and stored hashed."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--name", default="", help="What the token is for, e.g. alertmanager")

    def handle(self, *args, username, name, **options):
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user named {username!r}.")
        if not user.is_active:
            raise CommandError(f"User {username!r} is inactive.")
        token, raw = ApiToken.issue(user, name=name)
        audit.record("api_token.create", obj=token, after={"user": username, "name": name})
        self.stdout.write(raw)
