# Nikki's image: daphne serving Django and the diary socket on port 8000.
# The database is migrated when a container starts (docker/entrypoint.sh), never at build time.
FROM python:3.13-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# The dependencies first, from pyproject.toml alone, so that a code change reuses this layer.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && pip install --requirement /tmp/requirements.txt \
    && rm /tmp/requirements.txt

COPY . .
RUN pip install --no-deps . \
    && rm -rf build ./*.egg-info \
    # Compressed, hashed static files for servestatic; the keys are throwaways for this step only
    # (settings refuse to load without an encryption key; nothing is encrypted here).
    && DJANGO_SECRET_KEY=collectstatic-only-not-a-secret \
       NIKKI_ENCRYPTION_KEYS=$(python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())') \
       python manage.py collectstatic --noinput \
    # The code stays root's and read-only; only var/ (SQLite when no DATABASE_URL) is writable.
    && useradd --system --uid 10001 --user-group --home-dir /app --no-create-home nikki \
    && mkdir -p var /var/lib/nikki \
    && chown nikki:nikki var /var/lib/nikki \
    && chmod 0700 /var/lib/nikki \
    && chmod 0755 docker/entrypoint.sh

USER nikki

EXPOSE 8000

# /healthz answers 200 when the database and the channel layer are reachable.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "docker/healthcheck.py"]

ENTRYPOINT ["/app/docker/entrypoint.sh"]
# daphne on uvloop (diary_project/serve.py); daphne's own command line otherwise.
CMD ["python", "-m", "diary_project.serve", "-b", "0.0.0.0", "-p", "8000", \
     "diary_project.asgi:application"]
