from django.core.management.base import BaseCommand

from diaries.imports.jobs import import_jobs_resume


class Command(BaseCommand):
    help = (
        "Run the import jobs that are waiting or were left running by a server that stopped "
        "(each goes on where it stopped). Every daphne server also does this by itself."
    )

    def handle(self, *args, **options) -> None:
        count = import_jobs_resume()
        self.stdout.write(f"{count} import job(s) run")
