"""The WSGI entry point: `gunicorn wsgi:app`."""

from campaign import create_web_app

app = create_web_app()
