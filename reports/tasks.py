from celery import shared_task

from . import mailing


@shared_task(ignore_result=True)
def scan_report_mailings() -> int:
    return mailing.scan_report_mailings()
